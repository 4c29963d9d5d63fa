/**
 * The plugin point between the edge and whatever runs the model. A backend takes one working
 * region in the wire format of shared/protocol.ts and returns the inpainted region; `http` (any
 * server speaking the protocol, Modal included) is the first. Backends report failures as the
 * gpu-* problems of shared/problems.ts, so callers never map transport errors themselves.
 */
import { Problem } from "./problems.ts";
import type { InferRequest, InferResponse } from "./protocol.ts";

export interface GpuCallOptions {
  /** Aborts the call (the backend then throws gpu-timeout). */
  signal?: AbortSignal;
  requestId?: string;
}

export interface GpuBackend {
  readonly name: string;
  /**
   * One working region through the model. Throws a Problem: gpu-unavailable (cannot connect),
   * gpu-busy (the function's queue is full, with its Retry-After), gpu-timeout, gpu-bad-response,
   * or model-not-found.
   */
  infer(req: InferRequest, o?: GpuCallOptions): Promise<InferResponse>;
  /**
   * `name@version` of the model the function serves now (part of the edge's cache keys), or
   * undefined when the backend cannot tell; the same problems as `infer`.
   */
  servedModel?(o?: GpuCallOptions): Promise<string | undefined>;
}

/** String settings (wrangler vars and secrets, or process.env) and the platform's fetch. */
export type BackendSettings = Readonly<Record<string, unknown>>;
export type GpuBackendFactory = (settings: BackendSettings, deps: { fetch: typeof fetch }) => GpuBackend;

/** Picks the backend named by `name` (default "http") from a registry of factories. */
export function selectBackend(
  registry: Readonly<Record<string, GpuBackendFactory>>,
  name: string | undefined,
  settings: BackendSettings,
  deps: { fetch: typeof fetch },
): GpuBackend {
  const key = name?.trim() || "http";
  const factory = Object.hasOwn(registry, key) ? registry[key] : undefined;
  if (!factory)
    throw new Problem("internal", `GPU_BACKEND "${key}" is not a known backend (have: ${Object.keys(registry).join(", ")})`);
  return factory(settings, deps);
}
