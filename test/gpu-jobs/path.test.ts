/**
 * Which ways of running the model are candidates: CPU features from /proc/cpuinfo, variants by
 * their manifests; the measured choice among them, its reason and its cache (select.ts).
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { describeCpu, parseCpuInfo } from "../../gpu-jobs/runtime/cpu.ts";
import { ACCURACY_BOUND_DB, askedPath, type Precision, pathCandidates, type VariantFile } from "../../gpu-jobs/runtime/path.ts";
import { describeChoice, readSelection, type Selection, selectionKey, writeSelection } from "../../gpu-jobs/runtime/select.ts";
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
  precision: "int8" | "fp16" | "bf16",
  o: { loss?: number; exact?: boolean; features?: string[]; providers?: string[] } = {},
): VariantFile {
  const manifest = ModelVariant.parse({
    precision,
    ...(precision === "bf16" ? { runtime: "torch" } : {}),
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

const cands = (variants: VariantFile[], features: string[], provider: "cpu" | "cuda" = "cpu") =>
  pathCandidates({ base: "/models/m.onnx", variants, provider, features });
const kinds = (variants: VariantFile[], features: string[], provider: "cpu" | "cuda" = "cpu") =>
  cands(variants, features, provider).map((c) => `${c.precision}/${c.engine}`);
const asked = (variants: VariantFile[], features: string[], want: Precision) =>
  askedPath({ base: "/models/m.onnx", variants, provider: "cpu", features, want });

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

describe("path candidates", () => {
  const avx2 = parseCpuInfo(EPYC).features;
  const amx = parseCpuInfo(XEON).features;

  it("is fp32 alone when nothing else is shipped", () => {
    expect(cands([], amx)).toEqual([
      { precision: "fp32", engine: "onnxruntime", file: "/models/m.onnx", reason: "fp32: no variant shipped" },
    ]);
  });

  it("offers the int8 variant only on a CPU its manifest names, fp32 always first", () => {
    const v = [variant("int8")];
    expect(kinds(v, amx)).toEqual(["fp32/onnxruntime", "int8/onnxruntime"]);
    expect(cands(v, amx)[1]).toMatchObject({ file: "/models/m.int8.onnx" });
    expect(cands(v, amx)[1].reason).toContain("avx512_vnni, amx_int8");
    expect(kinds(v, avx2)).toEqual(["fp32/onnxruntime"]);
    expect(cands(v, avx2)[0].reason).toContain("may not run on cpu");
    expect(kinds(v, amx, "cuda")).toEqual(["fp32/onnxruntime"]);
  });

  it("offers the bf16 torch runner where the CPU has bf16 units", () => {
    const v = [variant("int8"), variant("bf16", { features: ["avx512_bf16", "amx_bf16"] })];
    expect(kinds(v, amx)).toEqual(["fp32/onnxruntime", "int8/onnxruntime", "bf16/torch"]);
    expect(kinds(v, avx2)).toEqual(["fp32/onnxruntime"]);
  });

  it(`never offers a variant outside the ${ACCURACY_BOUND_DB} dB bound or one that touches unmasked pixels`, () => {
    expect(kinds([variant("int8", { loss: ACCURACY_BOUND_DB })], amx)).toHaveLength(2);
    expect(kinds([variant("int8", { loss: ACCURACY_BOUND_DB + 0.001 })], amx)).toHaveLength(1);
    expect(kinds([variant("int8", { exact: false })], amx)).toHaveLength(1);
    const unmeasured = variant("int8");
    const m = { ...unmeasured, manifest: { ...unmeasured.manifest, accuracy: null } };
    expect(kinds([m], amx)).toHaveLength(1);
  });

  it("offers fp16 to the GPU providers it names, on any CPU", () => {
    const v = [variant("fp16", { providers: ["cuda", "tensorrt"], features: [] })];
    expect(kinds(v, avx2, "cuda")).toEqual(["fp32/onnxruntime", "fp16/onnxruntime"]);
    expect(kinds(v, amx, "cpu")).toEqual(["fp32/onnxruntime"]);
  });

  it("obeys an explicit precision, and refuses one that is not shipped or is outside the bound", () => {
    expect(asked([variant("int8")], amx, "fp32")).toMatchObject({ precision: "fp32", reason: "fp32 asked for" });
    expect(asked([variant("int8")], avx2, "int8").precision).toBe("int8");
    expect(asked([variant("bf16")], avx2, "bf16")).toMatchObject({ precision: "bf16", engine: "torch" });
    expect(() => asked([], amx, "int8")).toThrow(/no int8 variant/);
    expect(() => asked([variant("int8", { loss: 0.5 })], amx, "int8")).toThrow(/accuracy bound/);
  });
});

describe("the measured choice", () => {
  const amx = parseCpuInfo(XEON);
  const c = cands([variant("int8"), variant("bf16", { features: ["amx_bf16"] })], amx.features);
  const sel: Selection = {
    chosen: 2,
    size: 256,
    measured: "2026-12-05T00:00:00Z",
    table: [
      { precision: "fp32", engine: "onnxruntime", file: "m.onnx", ms: 380 },
      { precision: "int8", engine: "onnxruntime", file: "m.int8.onnx", ms: 300 },
      { precision: "bf16", engine: "torch", file: "m.onnx", ms: 120 },
    ],
  };

  it("says what was measured in its reason", () => {
    const d = describeChoice(c, sel, false);
    expect(d).toMatchObject({ precision: "bf16", engine: "torch" });
    expect(d.reason).toContain("fastest at 256x256: fp32 380, int8 300, bf16 (torch) 120 ms");
    expect(describeChoice(c, sel, true).reason).toContain("measured 2026-12-05T00:00:00Z, cached");
  });

  it("is cached per CPU, threads and model digest, and a stale or foreign cache file is ignored", () => {
    const base = { cpu: amx as { model: string; features: string[] }, threads: 2, provider: "cpu", candidates: [] as never[] };
    const files = [{ precision: "fp32", engine: "onnxruntime", sha256: "a".repeat(64) }];
    const key = selectionKey({ ...base, candidates: files });
    expect(selectionKey({ ...base, candidates: files })).toBe(key);
    expect(selectionKey({ ...base, threads: 4, candidates: files })).not.toBe(key);
    expect(selectionKey({ ...base, candidates: [{ ...files[0], sha256: "b".repeat(64) }] })).not.toBe(key);
    expect(selectionKey({ ...base, cpu: { ...base.cpu, features: ["avx2"] }, candidates: files })).not.toBe(key);
    const dir = mkdtempSync(join(tmpdir(), "gmcnn-select-"));
    expect(readSelection(dir, key, 3)).toBeUndefined();
    writeSelection(dir, key, sel);
    expect(readSelection(dir, key, 3)).toEqual(sel);
    expect(readSelection(dir, key, 2)).toBeUndefined(); // another candidate list
    writeFileSync(join(dir, `path-${key}.json`), JSON.stringify({ ...sel, chosen: 7 }));
    expect(readSelection(dir, key, 3)).toBeUndefined();
    writeFileSync(join(dir, `path-${key}.json`), "{not json");
    expect(readSelection(dir, key, 3)).toBeUndefined();
  });
});
