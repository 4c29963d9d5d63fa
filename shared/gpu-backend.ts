/**
 * What runs the model, as the edge and the CLI see it: an inference backend takes one working
 * region in the wire format of shared/protocol.ts and returns the inpainted region. Backends are
 * plugins of kind `inference` (shared/plugins/inference/: http, fallback, local); they report
 * failures as the gpu-* problems of shared/problems.ts, so callers never map transport errors.
 */
import type { InferRequest, InferResponse } from "./protocol.ts";

export interface GpuCallOptions {
  /** Aborts the call (the backend then throws gpu-timeout). */
  signal?: AbortSignal;
  requestId?: string;
}

/** A region's answer, and which backend of a chain served it (reported as X-Gpu-Backend). */
export type InferResult = InferResponse & { servedBy?: string };

export interface GpuBackend {
  readonly name: string;
  /**
   * One working region through the model. Throws a Problem: gpu-unavailable (cannot connect),
   * gpu-busy (the function's queue is full, with its Retry-After), gpu-timeout, gpu-bad-response,
   * or model-not-found.
   */
  infer(req: InferRequest, o?: GpuCallOptions): Promise<InferResult>;
  /**
   * `name@version` of the model the function serves now (part of the edge's cache keys), or
   * undefined when the backend cannot tell; the same problems as `infer`.
   */
  servedModel?(o?: GpuCallOptions): Promise<string | undefined>;
}
