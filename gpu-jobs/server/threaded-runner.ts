/**
 * The model behind a worker thread (inference-thread.ts): `infer` posts a region over, the
 * pixels travel as transferred buffers (no copy), and the HTTP loop keeps running meanwhile.
 */
import { Worker } from "node:worker_threads";
import type { Mask, RgbaImage } from "../../shared/imaging/types.ts";
import type { Timed } from "../runtime/select.ts";
import type { SessionOptions } from "../runtime/session.ts";

export type ThreadRequest =
  | { type: "infer"; id: number; width: number; height: number; rgba: ArrayBuffer; mask: ArrayBuffer }
  | { type: "close" };
export type ThreadReply =
  | { type: "ready"; runtime: string; provider: string; path: RunnerPath }
  | { type: "failed"; message: string }
  | { type: "result"; id: number; rgba: ArrayBuffer }
  | { type: "error"; id: number; message: string };

/** How the session runs the model here (runtime/session.ts chose it). */
export interface RunnerPath {
  precision: string;
  threads?: number;
  /** "cpu; precision=fp32; threads=2": sent as the infer response's provider (X-Gpu-Provider at the edge). */
  label: string;
  reason: string;
  file: string;
  /** Every candidate's time when the path was chosen by measurement (select.ts). */
  measured?: { size: number; table: Timed[]; cached: boolean };
}

/** What the server needs from a loaded model (a stand-in in tests). */
export interface ModelRunner {
  readonly runtime: string;
  readonly provider: string;
  /** Absent on stand-ins. */
  readonly path?: RunnerPath;
  infer(image: RgbaImage, mask: Mask): Promise<RgbaImage>;
  close(): Promise<void>;
}

/** Copies into a fresh buffer that can be transferred (the caller's arrays may be views). */
const own = (a: ArrayBufferView): ArrayBuffer => new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice().buffer;

export async function startThreadedRunner(modelPath: string, options: SessionOptions = {}): Promise<ModelRunner> {
  // A .mjs shim: worker threads need tsx registered again to load the TypeScript entry.
  const worker = new Worker(new URL("./inference-thread.mjs", import.meta.url), { workerData: { modelPath, options } });
  const pending = new Map<number, { resolve: (r: RgbaImage) => void; reject: (e: Error) => void; w: number; h: number }>();
  let nextId = 1;

  const ready = await new Promise<{ runtime: string; provider: string; path: RunnerPath }>((resolve, reject) => {
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`inference thread exited (${code}) before it was ready`)));
    worker.once("message", (m: ThreadReply) =>
      m.type === "ready" ? resolve(m) : reject(new Error((m as { message: string }).message)),
    );
  });
  worker.removeAllListeners("exit").removeAllListeners("error");

  const failAll = (e: Error) => {
    for (const p of pending.values()) p.reject(e);
    pending.clear();
  };
  worker.on("message", (m: ThreadReply) => {
    if (m.type !== "result" && m.type !== "error") return;
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.type === "error") p.reject(new Error(m.message));
    else p.resolve({ width: p.w, height: p.h, data: new Uint8ClampedArray(m.rgba) });
  });
  worker.on("error", failAll);
  worker.on("exit", (code) => failAll(new Error(`inference thread exited (${code})`)));

  return {
    runtime: ready.runtime,
    provider: ready.provider,
    path: ready.path,
    infer(image, mask) {
      const id = nextId++;
      const rgba = own(image.data);
      const m = own(mask.data);
      return new Promise<RgbaImage>((resolve, reject) => {
        pending.set(id, { resolve, reject, w: image.width, h: image.height });
        const req: ThreadRequest = { type: "infer", id, width: image.width, height: image.height, rgba, mask: m };
        worker.postMessage(req, [rgba, m]);
      });
    },
    async close() {
      const exited = new Promise((r) => worker.once("exit", r));
      worker.postMessage({ type: "close" } satisfies ThreadRequest);
      await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
      await worker.terminate();
    },
  };
}
