/**
 * The page's side of the in-page model: starts local-worker.ts (from a blob URL that imports it,
 * so that a widget served from the API's origin can start it in an integrator's page too), sends
 * it requests, relays download progress and per-region steps, and terminates it to cancel.
 */
import type { Backend, LocalProgress, LocalStep } from "./local.ts";
import type { WorkerReply, WorkerRequest } from "./local-worker.ts";

/** A request without its id (the runner numbers them). */
type Req = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, "id"> : never) : never;

import type { MaskPayload } from "./edits.ts";

export interface RunnerOptions {
  /** URL of the built local-worker.js. */
  workerUrl: string;
  assets: string;
  modelUrl: string;
  modelBytes?: number;
  onProgress?: (p: LocalProgress) => void;
}

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void; onStep?: (s: LocalStep) => void };

export class LocalRunner {
  private worker?: Worker;
  private readonly pending = new Map<number, Pending>();
  private next = 1;
  private init?: Promise<unknown>;

  constructor(private readonly o: RunnerOptions) {}

  /** Whether a worker is alive (tests: a cancel terminates it). */
  get alive(): boolean {
    return !!this.worker;
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const boot = URL.createObjectURL(new Blob([`import ${JSON.stringify(this.o.workerUrl)};`], { type: "text/javascript" }));
    const w = new Worker(boot, { type: "module", name: "gmcnn-inpaint-model" });
    URL.revokeObjectURL(boot);
    w.onmessage = ({ data }: MessageEvent<WorkerReply>) => {
      const p = this.pending.get(data.id);
      if ("progress" in data) return this.o.onProgress?.(data.progress);
      if (!p) return;
      if ("step" in data) return p.onStep?.(data.step);
      this.pending.delete(data.id);
      if ("error" in data) p.reject(new Error(data.error));
      else p.resolve(data.ok);
    };
    w.onerror = (e) => {
      e.preventDefault();
      this.fail(new Error(`the in-page model's worker failed: ${e.message || "it could not start"}`));
    };
    this.worker = w;
    const { workerUrl: _, onProgress: __, ...options } = this.o;
    this.init = this.call({ op: "init", options });
    return w;
  }

  private call<T>(req: Req, onStep?: (s: LocalStep) => void): Promise<T> {
    const w = this.start();
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, onStep });
      w.postMessage({ ...req, id });
    });
  }

  private async ask<T>(req: Req, onStep?: (s: LocalStep) => void): Promise<T> {
    this.start();
    await this.init;
    return this.call<T>(req, onStep);
  }

  /** Downloads (or reads from Cache Storage) the runtime and the model; opens the session. */
  prepare(): Promise<Backend> {
    return this.ask({ op: "prepare" });
  }
  /** Milliseconds per input pixel, from a tiny timed run. */
  speed(): Promise<{ msPerPixel: number; overheadMs: number; sampleMs: number; side: number }> {
    return this.ask({ op: "speed" });
  }
  plan(width: number, height: number, mask: MaskPayload): Promise<{ regions: number; pixels: number }> {
    return this.ask({ op: "plan", width, height, mask });
  }
  inpaint(
    image: Blob,
    mask: MaskPayload,
    onStep?: (s: LocalStep) => void,
  ): Promise<{ blob: Blob; backend: string; regions: number }> {
    return this.ask({ op: "inpaint", image, mask }, onStep);
  }

  /** Stops whatever runs (the worker and its threads end); the next request starts a fresh worker. */
  terminate(reason = new DOMException("Canceled", "AbortError")): void {
    this.worker?.terminate();
    this.worker = undefined;
    this.init = undefined;
    this.fail(reason);
  }

  private fail(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    if (this.worker && !(e instanceof DOMException)) {
      this.worker.terminate();
      this.worker = undefined;
      this.init = undefined;
    }
  }
}

/** Whether the model and the runtime are already in Cache Storage (no download needed). */
export async function modelCached(urls: string[]): Promise<boolean> {
  if (typeof caches === "undefined") return false;
  try {
    const cache = await caches.open("gmcnn-inpaint-v1");
    for (const u of urls) if (!(await cache.match(u))) return false;
    return true;
  } catch {
    return false;
  }
}
