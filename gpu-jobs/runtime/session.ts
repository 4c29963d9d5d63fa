/**
 * The one module that owns model sessions, and the one place that decides how the model runs on
 * this machine: execution provider (CUDA first when installed, CPU otherwise), then, among fp32
 * and the variants shipped beside the model that may run here within the accuracy bound (path.ts:
 * int8 / fp16 through ONNX Runtime, bf16 through the torch runner), the one measured fastest on
 * this machine (select.ts; cached per CPU and model), and threads. Every session says what it
 * chose and why (`label`, `reason`, `measured`: X-Gpu-Provider, /readyz, bench manifests).
 * `onnxruntime-web` runs the fp32 model in WASM (the browser build, and a portable fallback).
 * Runtimes are loaded lazily.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { cpuInfo } from "./cpu.ts";
import { listVariants, sha256 } from "./models.ts";
import { askedPath, type PathChoice, type Precision, type Provider, pathCandidates } from "./path.ts";
import {
  cacheDir,
  describeChoice,
  readSelection,
  SELECT_RUNS,
  SELECT_SIZE,
  type Selection,
  selectionKey,
  type Timed,
  timeRuns,
  writeSelection,
} from "./select.ts";
import { startTorchProcess } from "./torch-session.ts";

export type RuntimeKind = "node" | "web" | "torch";

export interface SessionOptions {
  runtime?: RuntimeKind;
  /** Try CUDA before CPU (node runtime only). Default: true unless GMCNN_PROVIDER=cpu. */
  cuda?: boolean;
  /** Intra-op threads; default: env GMCNN_THREADS, else every core this process may use. */
  threads?: number;
  /** "auto" (default; env GMCNN_PRECISION) picks per machine; fp32 / int8 / fp16 / bf16 force one. */
  precision?: Precision | "auto";
  /** Where measured choices are cached (default: select.ts cacheDir(), env GMCNN_CACHE_DIR). */
  cacheDir?: string;
}

export interface ModelSession {
  readonly runtime: RuntimeKind;
  readonly provider: Provider;
  readonly precision: Precision;
  /** Intra-op threads (CPU providers). */
  readonly threads?: number;
  /** The ONNX file it runs. */
  readonly file: string;
  /** Why this path (variant chosen or not). */
  readonly reason: string;
  /** Every candidate's time at the selection size, when there was more than one. */
  readonly measured?: { size: number; table: Timed[]; cached: boolean };
  /** "cpu; precision=fp32; threads=2": what X-Gpu-Provider and /readyz report. */
  readonly label: string;
  /** image [1,3,H,W] in [-1,1], mask [1,1,H,W] -> composited [1,3,H,W]. */
  run(image: Float32Array, mask: Float32Array, width: number, height: number): Promise<Float32Array>;
  release(): Promise<void>;
}

type Ort = typeof import("onnxruntime-node");

export function pathLabel(p: { provider: string; precision: string; threads?: number; engine?: string }): string {
  const torch = p.engine === "torch" ? "; runtime=torch" : "";
  return `${p.provider}; precision=${p.precision}${p.threads ? `; threads=${p.threads}` : ""}${torch}`;
}

function wrap(
  ort: Ort,
  session: import("onnxruntime-node").InferenceSession,
  info: { runtime: RuntimeKind; provider: Provider; threads?: number } & Omit<PathChoice, "engine">,
): ModelSession {
  return {
    runtime: info.runtime,
    provider: info.provider,
    precision: info.precision,
    threads: info.threads,
    file: info.file,
    reason: info.reason,
    label: pathLabel(info),
    async run(image, mask, width, height) {
      const feeds = {
        image: new ort.Tensor("float32", image, [1, 3, height, width]),
        mask: new ort.Tensor("float32", mask, [1, 1, height, width]),
      };
      const out = await session.run(feeds);
      return out.output.data as Float32Array;
    },
    release: () => session.release(),
  };
}

const providerLib = (name: string) => {
  const root = dirname(createRequire(import.meta.url).resolve("onnxruntime-node/package.json"));
  return existsSync(join(root, "bin/napi-v6", process.platform, process.arch, `libonnxruntime_providers_${name}.so`));
};

/** The CUDA provider ships only when installed with ONNXRUNTIME_NODE_INSTALL=cuda12. */
export const cudaInstalled = (): boolean => providerLib("cuda");

/** Execution providers onnxruntime-node has here (TensorRT also needs TensorRT's own libraries at run time). */
export function installedProviders(): Provider[] {
  return ["cpu", ...(cudaInstalled() ? (["cuda"] as const) : []), ...(providerLib("tensorrt") ? (["tensorrt"] as const) : [])];
}

const envPrecision = (): Precision | "auto" => {
  const p = process.env.GMCNN_PRECISION || "auto";
  if (!["auto", "fp32", "int8", "fp16", "bf16"].includes(p))
    throw new Error(`GMCNN_PRECISION=${p}: expected auto, fp32, int8, fp16 or bf16`);
  return p as Precision | "auto";
};

/** One candidate opened on the CPU: ONNX Runtime on its file, or the torch runner on its weights. */
async function openCpu(ort: Ort, p: PathChoice, threads: number): Promise<ModelSession> {
  if (p.engine === "torch") {
    const t = await startTorchProcess(p.file, { precision: p.precision === "bf16" ? "bf16" : "fp32", threads });
    return {
      runtime: "torch",
      provider: "cpu",
      precision: p.precision,
      threads,
      file: p.file,
      reason: p.reason,
      label: pathLabel({ provider: "cpu", precision: p.precision, threads, engine: "torch" }),
      run: (image, mask, width, height) => t.run(image, mask, width, height),
      release: () => t.release(),
    };
  }
  const s = await ort.InferenceSession.create(p.file, {
    graphOptimizationLevel: "all",
    intraOpNumThreads: threads,
    executionProviders: ["cpu"],
  });
  return wrap(ort, s, { runtime: "node", provider: "cpu", threads, ...p });
}

/** How long a candidate may take in all (warm-up + runs) once another has been timed. */
const overBudget = (bestMs: number) => Math.max(5_000, 4 * bestMs * (SELECT_RUNS + 1));

function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`over the ${Math.round(ms)} ms timing budget (4x the fastest)`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/**
 * The fastest CPU candidate, measured here (or read from the cache of an earlier measurement on
 * this CPU, model and thread count). A candidate that fails to load or run is skipped, never served.
 */
async function measuredCpu(ort: Ort, cands: PathChoice[], threads: number, dir: string): Promise<ModelSession> {
  if (cands.length === 1) return openCpu(ort, cands[0], threads);
  const key = selectionKey({
    cpu: cpuInfo(),
    threads,
    provider: "cpu",
    candidates: cands.map((c) => ({ precision: c.precision, engine: c.engine, sha256: sha256(c.file) })),
  });
  const cached = readSelection(dir, key, cands.length);
  if (cached) {
    try {
      const s = await openCpu(ort, describeChoice(cands, cached, true), threads);
      return { ...s, measured: { size: cached.size, table: cached.table, cached: true } };
    } catch {
      /* what was fastest no longer loads: measure again */
    }
  }
  const table: Timed[] = [];
  let best: { i: number; s: ModelSession } | undefined;
  for (const [i, c] of cands.entries()) {
    const row: Timed = { precision: c.precision, engine: c.engine, file: c.file.split("/").pop() ?? c.file, ms: null };
    table.push(row);
    let s: ModelSession | undefined;
    try {
      s = await openCpu(ort, c, threads);
      const timing = timeRuns((image, mask, w, h) => (s as ModelSession).run(image, mask, w, h));
      // A child process can be stopped: one far slower than the best so far (emulated bf16, an
      // oversubscribed machine) is cut off rather than holding up the start for minutes.
      row.ms = await (c.engine === "torch" && best ? withDeadline(timing, overBudget(table[best.i].ms as number)) : timing);
    } catch (e) {
      row.error = String((e as Error)?.message ?? e).slice(0, 200);
    }
    if (!s) continue;
    if (row.ms !== null && (!best || row.ms < (table[best.i].ms as number))) {
      await best?.s.release();
      best = { i, s };
    } else await s.release();
  }
  const sel: Selection = { chosen: best?.i ?? 0, size: SELECT_SIZE, table, measured: new Date().toISOString() };
  if (best) writeSelection(dir, key, sel);
  const choice = describeChoice(cands, sel, false);
  const s = best?.s ?? (await openCpu(ort, choice, threads));
  return { ...s, reason: choice.reason, measured: { size: SELECT_SIZE, table, cached: false } };
}

export async function createSession(modelPath: string, o: SessionOptions = {}): Promise<ModelSession> {
  const runtime = o.runtime ?? "node";
  const threads = o.threads ?? (Number(process.env.GMCNN_THREADS) || cpuInfo().cores);
  const want = o.precision ?? envPrecision();
  if (runtime === "web") {
    const ort = (await import("onnxruntime-web")) as unknown as Ort;
    ort.env.wasm.numThreads = 1; // Node has no SharedArrayBuffer workers for ort-web here
    const bytes = await readFile(modelPath);
    const s = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
    const fp32 = { precision: "fp32" as const, file: modelPath, reason: "WASM runs the fp32 model" };
    return wrap(ort, s, { runtime: "web", provider: "wasm", threads: 1, ...fp32 });
  }
  const ort = (await import("onnxruntime-node")) as Ort;
  const variants = want === "fp32" ? [] : listVariants(modelPath);
  const features = cpuInfo().features;
  const input = { base: modelPath, variants, features };
  const wantCuda = o.cuda ?? process.env.GMCNN_PROVIDER !== "cpu";
  if (wantCuda && cudaInstalled()) {
    // On CUDA the first candidate that loads serves (fp16 before fp32): GPU kernels are not timed here.
    const cands =
      want === "auto"
        ? pathCandidates({ ...input, provider: "cuda" })
            .filter((c) => c.engine === "onnxruntime")
            .reverse()
        : [askedPath({ ...input, provider: "cuda", want })];
    for (const p of cands) {
      try {
        const s = await ort.InferenceSession.create(p.file, {
          graphOptimizationLevel: "all",
          intraOpNumThreads: threads,
          logSeverityLevel: 4,
          executionProviders: ["cuda"],
        });
        return wrap(ort, s, { runtime: "node", provider: "cuda", ...p });
      } catch {
        /* next candidate, then the CPU (asking for ['cuda','cpu'] throws when CUDA is absent) */
      }
    }
  }
  if (want !== "auto") return openCpu(ort, askedPath({ ...input, provider: "cpu", want }), threads);
  return measuredCpu(ort, pathCandidates({ ...input, provider: "cpu" }), threads, o.cacheDir ?? cacheDir());
}
