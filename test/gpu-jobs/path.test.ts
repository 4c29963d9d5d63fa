/** How the runtime picks its execution path: CPU features from /proc/cpuinfo, variants by their manifests. */
import { describe, expect, it } from "vitest";
import { describeCpu, parseCpuInfo } from "../../gpu-jobs/runtime/cpu.ts";
import { ACCURACY_BOUND_DB, choosePath, type VariantFile } from "../../gpu-jobs/runtime/path.ts";
import { ModelVariant } from "../../shared/schemas/variant.ts";

const EPYC = `processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 23
model\t\t: 49
model name\t: AMD EPYC
flags\t\t: fpu vme sse sse2 ssse3 fma cx16 sse4_1 sse4_2 avx f16c avx2 bmi2 sha_ni

processor\t: 1
model name\t: AMD EPYC
`;
const XEON = `processor\t: 0
cpu family\t: 6
model\t\t: 143
model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
flags\t\t: fpu sse avx2 fma f16c avx512f avx512_vnni avx512_bf16 avx512_fp16 amx_bf16 amx_tile amx_int8
`;

const loss = (db: number) => ({ hole_psnr_fp32: 21, hole_psnr: 21 - db, loss_db: db, max_level_diff_vs_fp32: 2 });
function variant(
  precision: "int8" | "fp16",
  o: { loss?: number; exact?: boolean; features?: string[]; providers?: string[] } = {},
): VariantFile {
  const manifest = ModelVariant.parse({
    precision,
    file: `m.${precision}.onnx`,
    sha256: "a".repeat(64),
    bytes: 1,
    base: { file: "m.onnx", sha256: "b".repeat(64) },
    scheme: "test",
    calibration: null,
    accuracy: {
      folder: "data/test",
      images: 8,
      unmasked_exact: o.exact ?? true,
      center: loss(o.loss ?? 0.01),
      freeform: loss(0.005),
    },
    use_when: { providers: o.providers ?? ["cpu"], cpu_features_any: o.features ?? ["avx512_vnni", "amx_int8"] },
    created: "2026-12-03T00:00:00Z",
  });
  return { manifest, path: `/models/m.${precision}.onnx` };
}

const pick = (variants: VariantFile[], features: string[], provider: "cpu" | "cuda" = "cpu", want?: "auto" | "fp32" | "int8") =>
  choosePath({ base: "/models/m.onnx", variants, provider, features, want });

describe("CPU features", () => {
  it("reads the model (with family and model number) and the flags that matter", () => {
    expect(parseCpuInfo(EPYC)).toEqual({ model: "AMD EPYC (family 23, model 49)", features: ["avx2", "fma", "f16c"] });
    const x = parseCpuInfo(XEON);
    expect(x.features).toEqual(expect.arrayContaining(["avx512_vnni", "amx_bf16", "amx_int8", "avx512_bf16"]));
    expect(x.features).not.toContain("avx_vnni");
  });
  it("names the machine for benchmark headers, saying what it lacks", () => {
    const e = parseCpuInfo(EPYC);
    expect(describeCpu({ model: e.model!, cores: 2, features: e.features })).toBe(
      "AMD EPYC (family 23, model 49), 2 cores, AVX2 FMA F16C; no AVX-512, no AMX",
    );
    const x = parseCpuInfo(XEON);
    expect(describeCpu({ model: x.model!, cores: 2, features: x.features })).toMatch(/2 cores, AVX2 .*AMX_INT8$/);
  });

  it("knows nothing where there is no cpuinfo", () => {
    expect(parseCpuInfo("")).toEqual({ model: undefined, features: [] });
  });
});

describe("choosePath", () => {
  const avx2 = parseCpuInfo(EPYC).features;
  const amx = parseCpuInfo(XEON).features;

  it("runs fp32 when nothing else is shipped", () => {
    expect(pick([], amx)).toMatchObject({ precision: "fp32", file: "/models/m.onnx", reason: "fp32: no variant shipped" });
  });

  it("picks the int8 variant only on a CPU its manifest says it wins on", () => {
    const v = [variant("int8")];
    expect(pick(v, amx)).toMatchObject({ precision: "int8", file: "/models/m.int8.onnx" });
    expect(pick(v, amx).reason).toContain("avx512_vnni, amx_int8");
    expect(pick(v, avx2)).toMatchObject({ precision: "fp32", file: "/models/m.onnx" });
    expect(pick(v, avx2).reason).toContain("do not win on cpu");
    expect(pick(v, amx, "cuda").precision).toBe("fp32");
  });

  it(`never picks a variant outside the ${ACCURACY_BOUND_DB} dB bound or one that touches unmasked pixels`, () => {
    expect(pick([variant("int8", { loss: ACCURACY_BOUND_DB })], amx).precision).toBe("int8");
    expect(pick([variant("int8", { loss: ACCURACY_BOUND_DB + 0.001 })], amx).precision).toBe("fp32");
    expect(pick([variant("int8", { exact: false })], amx).precision).toBe("fp32");
    const unmeasured = variant("int8");
    const m = { ...unmeasured, manifest: { ...unmeasured.manifest, accuracy: null } };
    expect(pick([m], amx).precision).toBe("fp32");
  });

  it("picks fp16 for the GPU providers it names, any CPU", () => {
    const v = [variant("fp16", { providers: ["cuda", "tensorrt"], features: [] })];
    expect(pick(v, avx2, "cuda")).toMatchObject({ precision: "fp16", file: "/models/m.fp16.onnx" });
    expect(pick(v, amx, "cpu").precision).toBe("fp32");
  });

  it("obeys an explicit precision, and refuses one that is not shipped", () => {
    expect(pick([variant("int8")], amx, "cpu", "fp32")).toMatchObject({ precision: "fp32", reason: "fp32 asked for" });
    expect(pick([variant("int8")], avx2, "cpu", "int8").precision).toBe("int8");
    expect(() => pick([], amx, "cpu", "int8")).toThrow(/no int8 variant/);
    expect(() => pick([variant("int8", { loss: 0.5 })], amx, "cpu", "int8")).toThrow(/accuracy bound/);
  });
});
