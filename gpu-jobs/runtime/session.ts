/**
 * The one module that owns ONNX Runtime sessions. `onnxruntime-node` is the default (CUDA first
 * when present, CPU otherwise, and it says which); `onnxruntime-web` runs the same model in WASM
 * (the browser build, and a portable fallback). Both are loaded lazily.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

export type RuntimeKind = "node" | "web";

export interface SessionOptions {
  runtime?: RuntimeKind;
  /** Try CUDA before CPU (node runtime only). Default: true unless GMCNN_PROVIDER=cpu. */
  cuda?: boolean;
  /** Intra-op threads; default: env GMCNN_THREADS, else ONNX Runtime's choice (all cores). */
  threads?: number;
}

export interface ModelSession {
  readonly runtime: RuntimeKind;
  readonly provider: string;
  /** image [1,3,H,W] in [-1,1], mask [1,1,H,W] -> composited [1,3,H,W]. */
  run(image: Float32Array, mask: Float32Array, width: number, height: number): Promise<Float32Array>;
  release(): Promise<void>;
}

type Ort = typeof import("onnxruntime-node");

async function wrap(
  ort: Ort,
  session: import("onnxruntime-node").InferenceSession,
  runtime: RuntimeKind,
  provider: string,
): Promise<ModelSession> {
  return {
    runtime,
    provider,
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

/** The CUDA provider ships only when installed with ONNXRUNTIME_NODE_INSTALL=cuda12. */
function cudaInstalled(): boolean {
  const root = dirname(createRequire(import.meta.url).resolve("onnxruntime-node/package.json"));
  return existsSync(join(root, "bin/napi-v6", process.platform, process.arch, "libonnxruntime_providers_cuda.so"));
}

export async function createSession(modelPath: string, o: SessionOptions = {}): Promise<ModelSession> {
  const runtime = o.runtime ?? "node";
  const threads = o.threads ?? (Number(process.env.GMCNN_THREADS) || undefined);
  const base = {
    graphOptimizationLevel: "all" as const,
    ...(threads ? { intraOpNumThreads: threads } : {}),
  };
  if (runtime === "web") {
    const ort = (await import("onnxruntime-web")) as unknown as Ort;
    ort.env.wasm.numThreads = 1; // Node has no SharedArrayBuffer workers for ort-web here
    const bytes = await readFile(modelPath);
    const s = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
    return wrap(ort, s, "web", "wasm");
  }
  const ort = (await import("onnxruntime-node")) as Ort;
  const wantCuda = o.cuda ?? process.env.GMCNN_PROVIDER !== "cpu";
  if (wantCuda && cudaInstalled()) {
    try {
      // Asking for ['cuda','cpu'] throws when the CUDA provider is absent: try, then fall back.
      const s = await ort.InferenceSession.create(modelPath, { ...base, logSeverityLevel: 4, executionProviders: ["cuda"] });
      return wrap(ort, s, "node", "cuda");
    } catch {
      /* no CUDA here: CPU below */
    }
  }
  const s = await ort.InferenceSession.create(modelPath, { ...base, executionProviders: ["cpu"] });
  return wrap(ort, s, "node", "cpu");
}
