/**
 * `npm run bench` (model part; also `gmcnn bench`): the path the runtime chooses for this machine
 * against ONNX Runtime fp32 and PyTorch on the same weights and inputs (fp32 eager, fp32
 * channels_last, bf16 autocast + channels_last eager and traced + frozen, where the CPU has AMX or
 * AVX512-BF16), and every shipped variant (int8, the bf16 torch runner), medians at 256, 512 and
 * 1024 px, the ratio of our path to the best PyTorch path, and each path's share of this machine's
 * measured peak for its precision (fp32 and bf16: PyTorch GEMM; int8: ONNX Runtime's MatMulInteger).
 * Writes the run's manifest (machine, chosen path and why, every number) to out/bench-model.json.
 *
 * Options: --runs 5 --runs-1024 3 --threads N (default: every core) --sizes 256,512,1024
 *          --candidate FILE.onnx (repeatable): also time a variant that is not shipped (int8/fp16
 *          from `python3 -m model.quantize`), to decide whether it should be.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import * as ort from "onnxruntime-node";
import { GPU_JOBS, PYTHON } from "../gpu-jobs/cli/python.ts";
import { cpuInfo, describeCpu } from "../gpu-jobs/runtime/cpu.ts";
import { listVariants, resolveModel } from "../gpu-jobs/runtime/models.ts";
import { createSession, type ModelSession } from "../gpu-jobs/runtime/session.ts";

/** FLOPs of the TF-layout generator at cnum=32 (2 x MACs, convolutions; checked layer by layer at 256). */
export const gflopAt = (size: number, cnum = 32) => 129.9 * (size / 256) ** 2 * (cnum / 32) ** 2;

const ROOT = resolve(GPU_JOBS, "..");
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function python(args: string[]): Promise<Record<string, unknown>> {
  return new Promise((res, rej) => {
    const p = spawn(PYTHON, ["-m", "model.bench", ...args], { cwd: GPU_JOBS, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    p.stdout.on("data", (d) => {
      out += d;
    });
    p.on("error", rej);
    p.on("exit", (code) =>
      code === 0
        ? res(JSON.parse(out.trim().split("\n").pop() ?? "{}"))
        : rej(new Error(`model.bench ${args[0]} exited ${code}`)),
    );
  });
}

/** The inputs every path gets: a smooth-noise image with a centre hole (half the side). */
function inputs(s: number) {
  const image = new Float32Array(3 * s * s).map((_, i) => Math.sin(i) * 0.9);
  const mask = new Float32Array(s * s);
  for (let y = s / 4; y < (3 * s) / 4; y++) mask.fill(1, y * s + s / 4, y * s + (3 * s) / 4);
  return { image, mask };
}

async function timeSession(session: ModelSession, sizes: number[], runsAt: (s: number) => number) {
  const ms: Record<string, number> = {};
  for (const s of sizes) {
    const { image, mask } = inputs(s);
    await session.run(image, mask, s, s); // warm-up
    const t: number[] = [];
    for (let i = 0; i < runsAt(s); i++) {
      const t0 = performance.now();
      await session.run(image, mask, s, s);
      t.push(performance.now() - t0);
    }
    ms[s] = Math.round(median(t));
  }
  return ms;
}

/** ONNX Runtime's GEMM rate here (GFLOP/s or GOP/s) on a model model.bench wrote: best of 5. */
async function ortPeak(m: { path: string; n: number; gop: number }, threads: number): Promise<number> {
  const s = await ort.InferenceSession.create(m.path, { intraOpNumThreads: threads, graphOptimizationLevel: "all" });
  const n = m.n;
  const a = m.path.includes("int8")
    ? new ort.Tensor(
        "uint8",
        new Uint8Array(n * n).map((_, i) => (i * 7) & 255),
        [n, n],
      )
    : new ort.Tensor(
        "float32",
        new Float32Array(n * n).map((_, i) => Math.sin(i)),
        [n, n],
      );
  await s.run({ a });
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await s.run({ a });
    best = Math.min(best, performance.now() - t0);
  }
  await s.release();
  return m.gop / (best / 1000);
}

interface Row {
  path: string;
  precision: "fp32" | "bf16" | "int8" | "fp16";
  ms: Record<string, number>;
  note?: string;
}

export async function benchCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: "string", default: "5" },
      "runs-1024": { type: "string", default: "3" },
      threads: { type: "string" },
      sizes: { type: "string", default: "256,512,1024" },
      candidate: { type: "string", multiple: true, default: [] },
    },
  });
  const cpu = cpuInfo();
  const threads = Number(values.threads ?? cpu.cores);
  const sizes = values.sizes.split(",").map(Number);
  const runsAt = (s: number) => Number(s >= 1024 ? values["runs-1024"] : values.runs);
  const model = resolveModel();
  const cnum = model.manifest.architecture.cnum;

  // Sessions stay open; each size is timed for every path before the next size, so that a load
  // change on a shared machine hits all paths alike. Our path: what the runtime chooses here (CPU).
  // Our path is measured afresh (a temp cache), as a first start on this machine would choose it.
  const selectCache = mkdtempSync(join(tmpdir(), "gmcnn-bench-select-"));
  const ours = await createSession(model.path, { threads, cuda: false, cacheDir: selectCache });
  rmSync(selectCache, { recursive: true, force: true });
  const plain = await createSession(model.path, { threads, cuda: false, precision: "fp32" });
  const same = ours.precision === "fp32" && ours.file === plain.file;
  const ortRows: [Row, ModelSession | undefined][] = [
    [{ path: `our path (${ours.label})`, precision: ours.precision === "bf16" ? "bf16" : ours.precision, ms: {} }, ours],
    [
      { path: "ONNX Runtime fp32", precision: "fp32", ms: {}, note: same ? "the same session as our path" : undefined },
      same ? undefined : plain,
    ],
  ];
  // Every shipped variant on its own, whether or not it won the selection.
  for (const v of listVariants(model.path)) {
    if (!v.manifest.use_when.providers.includes("cpu")) continue;
    const p = v.manifest.precision;
    const s = await createSession(model.path, { threads, cuda: false, precision: p }).catch(() => undefined);
    const name = v.manifest.runtime === "torch" ? `torch runner ${p}` : `ONNX Runtime ${p} (${v.manifest.file})`;
    if (s) ortRows.push([{ path: `variant: ${name}`, precision: p, ms: {}, note: "shipped" }, s]);
  }
  for (const file of values.candidate) {
    const precision = /int8/.test(basename(file)) ? "int8" : /fp16/.test(basename(file)) ? "fp16" : "fp32";
    const session = await createSession(resolve(file), { threads, cuda: false, precision: "fp32" }); // the file as given
    ortRows.push([{ path: `candidate ${basename(file)}`, precision, ms: {}, note: "not shipped" }, session]);
  }
  type TorchResult = { torch: string; ms: Record<string, Record<string, number>>; skipped: Record<string, string> };
  const pt: TorchResult = { torch: "", ms: {}, skipped: {} };
  for (const size of sizes) {
    for (const [row, session] of ortRows) if (session) row.ms[size] = (await timeSession(session, [size], runsAt))[size];
    // PyTorch runs the very weights of the shipped ONNX file (read back from it).
    const args = ["--ckpt", model.path, "--threads", String(threads), "--runs", String(runsAt(size)), "--sizes", String(size)];
    const r = (await python(["torch", ...args, "--modes", "eager,channels_last,bf16_cl,bf16_cl_jit"])) as TorchResult;
    pt.torch = r.torch;
    Object.assign(pt.skipped, r.skipped);
    for (const [m, cells] of Object.entries(r.ms)) pt.ms[m] = { ...pt.ms[m], ...cells };
    // Progress as it comes (a 1024 px PyTorch run can take minutes on two cores).
    const done = [
      ...ortRows.filter(([, x]) => x).map(([row]) => `${row.path} ${row.ms[size]}`),
      ...Object.entries(r.ms).map(([m, cells]) => `PyTorch ${m} ${Math.round(cells[`${size}x1`])}`),
    ];
    console.error(`${size}x${size} (ms): ${done.join(", ")}`);
  }
  if (same) ortRows[1][0].ms = ortRows[0][0].ms;
  for (const [, session] of ortRows) await session?.release();
  if (same) await plain.release();
  const rows: Row[] = ortRows.map(([row]) => row);
  const torchRow = (mode: string, path: string, precision: Row["precision"]): Row => ({
    path,
    precision,
    ms: Object.fromEntries(Object.entries(pt.ms[mode] ?? {}).map(([k, v]) => [k.split("x")[0], Math.round(v)])),
    note: pt.skipped[mode],
  });
  const torchRows = [
    torchRow("eager", "PyTorch fp32 eager", "fp32"),
    torchRow("channels_last", "PyTorch fp32 channels_last", "fp32"),
    torchRow("bf16_cl", "PyTorch bf16 autocast + channels_last", "bf16"),
    torchRow("bf16_cl_jit", "PyTorch bf16 autocast + channels_last, traced + frozen", "bf16"),
  ];
  rows.push(...torchRows);

  const tmp = mkdtempSync(join(tmpdir(), "gmcnn-bench-"));
  type PeakModel = { path: string; n: number; gop: number };
  const peaksRaw = (await python(["peaks", "--threads", String(threads), "--ort-models", tmp])) as {
    fp32_gflops: number;
    bf16_gflops: number | null;
    ort_models: { fp32: PeakModel; int8: PeakModel };
  };
  const ortFp32 = await ortPeak(peaksRaw.ort_models.fp32, threads);
  const peak: Record<Row["precision"], number | null> = {
    fp32: Math.round(Math.max(peaksRaw.fp32_gflops, ortFp32) * 10) / 10, // the better of PyTorch's and ONNX Runtime's sgemm
    bf16: peaksRaw.bf16_gflops,
    int8: Math.round(await ortPeak(peaksRaw.ort_models.int8, threads)),
    fp16: null, // no fp16 arithmetic on these CPUs: ONNX Runtime casts to fp32 around each op
  };
  rmSync(tmp, { recursive: true, force: true });

  const share = (r: Row, s: number) => {
    const p = peak[r.precision === "fp16" ? "fp32" : r.precision];
    return p ? (gflopAt(s, cnum) / (r.ms[s] / 1000) / p) * 100 : null;
  };
  const cell = (r: Row, s: number) => {
    if (r.ms[s] === undefined) return "n/a";
    const sh = share(r, s);
    return `${r.ms[s]}${sh === null ? "" : ` (${sh.toFixed(0)}%)`}`;
  };
  const best = (s: number) => Math.min(...torchRows.map((r) => r.ms[s] ?? Number.POSITIVE_INFINITY));
  const ratio = Object.fromEntries(sizes.map((s) => [s, rows[0].ms[s] / best(s)]));

  const ortVersion = createRequire(import.meta.url)("onnxruntime-node/package.json").version as string;
  console.log(`machine: ${describeCpu(cpu)}; ${threads} threads; onnxruntime-node ${ortVersion}, PyTorch ${pt.torch}`);
  console.log(
    `model: ${model.manifest.name}@${model.manifest.version} (cnum ${cnum}): ${sizes.map((s) => gflopAt(s, cnum).toFixed(1)).join(" / ")} GFLOP at ${sizes.join(" / ")} px`,
  );
  console.log(
    `measured peaks (best of 5, ${threads} threads): fp32 ${peak.fp32} GFLOP/s (sgemm: PyTorch ${peaksRaw.fp32_gflops}, ONNX Runtime ${ortFp32.toFixed(1)}), int8 ${peak.int8} GOP/s (ONNX Runtime MatMulInteger), bf16 ${peak.bf16 ?? "n/a (no AMX or AVX512-BF16)"}`,
  );
  console.log(`our path: ${ours.label} (${ours.reason})`);
  console.log(
    `median of ${values.runs} runs (1024: ${values["runs-1024"]}); ms (share of the measured peak for the path's precision)\n`,
  );
  console.log(`| path | ${sizes.map((s) => `${s}x${s}`).join(" | ")} | note |`);
  console.log(`|---|${sizes.map(() => "---|").join("")}---|`);
  for (const r of rows) console.log(`| ${r.path} | ${sizes.map((s) => cell(r, s)).join(" | ")} | ${r.note ?? ""} |`);
  console.log(
    `| **our path / best PyTorch** | ${sizes.map((s) => `**${ratio[s].toFixed(2)}**`).join(" | ")} | target at 512: ${cpu.features.includes("amx_bf16") ? "<= 0.5 (AMX)" : cpu.features.includes("avx512_bf16") ? "<= 1.0 (AVX512-BF16)" : "none (report)"} |`,
  );

  mkdirSync(join(ROOT, "out"), { recursive: true });
  const manifest = {
    created: new Date().toISOString(),
    machine: { cpu: cpu.model, cores: cpu.cores, features: cpu.features, threads },
    versions: { "onnxruntime-node": ortVersion, torch: pt.torch },
    model: { name: model.manifest.name, version: model.manifest.version, sha256: model.manifest.sha256 },
    path: {
      label: ours.label,
      provider: ours.provider,
      precision: ours.precision,
      file: basename(ours.file),
      reason: ours.reason,
    },
    peaks: { fp32_gflops: peak.fp32, bf16_gflops: peak.bf16, int8_gops: peak.int8 },
    runs: { default: Number(values.runs), at_1024: Number(values["runs-1024"]) },
    rows: rows.map((r) => ({ ...r, share_of_peak: Object.fromEntries(sizes.map((s) => [s, share(r, s)])) })),
    ratio_to_best_pytorch: ratio,
  };
  writeFileSync(join(ROOT, "out/bench-model.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  console.log("\nwrote out/bench-model.json");
  return 0;
}
