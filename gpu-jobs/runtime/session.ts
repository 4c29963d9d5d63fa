/**
 * The one module that owns ONNX Runtime sessions, and the one place that decides how the model
 * runs on this machine: execution provider (CUDA first when installed, CPU otherwise), precision
 * (an int8 / fp16 variant shipped beside the model where its manifest says it wins here and it is
 * within the accuracy bound: path.ts), and threads. Every session says what it chose (`label`:
 * X-Gpu-Provider, /readyz, bench manifests). `onnxruntime-web` runs the fp32 model in WASM (the
 * browser build, and a portable fallback). Both runtimes are loaded lazily.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { cpuInfo } from "./cpu.ts";
import { listVariants } from "./models.ts";
import { choosePath, type PathChoice, type Precision, type Provider } from "./path.ts";

export type RuntimeKind = "node" | "web";

export interface SessionOptions {
  runtime?: RuntimeKind;
  /** Try CUDA before CPU (node runtime only). Default: true unless GMCNN_PROVIDER=cpu. */
  cuda?: boolean;
  /** Intra-op threads; default: env GMCNN_THREADS, else every core this process may use. */
  threads?: number;
  /** "auto" (default; env GMCNN_PRECISION) picks per machine; fp32 / int8 / fp16 force one. */
  precision?: Precision | "auto";
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
  /** "cpu; precision=fp32; threads=2": what X-Gpu-Provider and /readyz report. */
  readonly label: string;
  /** image [1,3,H,W] in [-1,1], mask [1,1,H,W] -> composited [1,3,H,W]. */
  run(image: Float32Array, mask: Float32Array, width: number, height: number): Promise<Float32Array>;
  release(): Promise<void>;
}

type Ort = typeof import("onnxruntime-node");

export function pathLabel(p: { provider: string; precision: string; threads?: number }): string {
  return `${p.provider}; precision=${p.precision}${p.threads ? `; threads=${p.threads}` : ""}`;
}

function wrap(
  ort: Ort,
  session: import("onnxruntime-node").InferenceSession,
  info: { runtime: RuntimeKind; provider: Provider; threads?: number } & PathChoice,
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
  if (!["auto", "fp32", "int8", "fp16"].includes(p)) throw new Error(`GMCNN_PRECISION=${p}: expected auto, fp32, int8 or fp16`);
  return p as Precision | "auto";
};

export async function createSession(modelPath: string, o: SessionOptions = {}): Promise<ModelSession> {
  const runtime = o.runtime ?? "node";
  const threads = o.threads ?? (Number(process.env.GMCNN_THREADS) || cpuInfo().cores);
  const want = o.precision ?? envPrecision();
  const base = { graphOptimizationLevel: "all" as const, intraOpNumThreads: threads };
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
  const fp32: PathChoice = { precision: "fp32", file: modelPath, reason: "" };
  const wantCuda = o.cuda ?? process.env.GMCNN_PROVIDER !== "cpu";
  if (wantCuda && cudaInstalled()) {
    const pick = choosePath({ base: modelPath, variants, provider: "cuda", features, want });
    // A variant that fails to load falls back to fp32; asking for ['cuda','cpu'] throws when the
    // CUDA provider is absent, so each is tried alone and the CPU comes last.
    for (const p of pick.file === modelPath
      ? [pick]
      : [pick, { ...fp32, reason: `fp32: the ${pick.precision} variant did not load` }]) {
      try {
        const s = await ort.InferenceSession.create(p.file, { ...base, logSeverityLevel: 4, executionProviders: ["cuda"] });
        return wrap(ort, s, { runtime: "node", provider: "cuda", ...p });
      } catch {
        /* next candidate, then the CPU */
      }
    }
  }
  const pick = choosePath({ base: modelPath, variants, provider: "cpu", features, want });
  try {
    const s = await ort.InferenceSession.create(pick.file, { ...base, executionProviders: ["cpu"] });
    return wrap(ort, s, { runtime: "node", provider: "cpu", threads, ...pick });
  } catch (e) {
    if (pick.file === modelPath) throw e;
    const s = await ort.InferenceSession.create(modelPath, { ...base, executionProviders: ["cpu"] });
    const reason = `fp32: the ${pick.precision} variant did not load (${String((e as Error)?.message ?? e).slice(0, 120)})`;
    return wrap(ort, s, { runtime: "node", provider: "cpu", threads, ...fp32, reason });
  }
}
