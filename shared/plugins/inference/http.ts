/**
 * Inference backend `http`: POSTs shared/protocol.ts bodies to `${GPU_URL}/v1/infer` on any
 * server that speaks the protocol (gpu-jobs/server locally or on a VM, the same server behind
 * Modal). Every way the call can fail becomes one of the gpu-* problems, with a Retry-After.
 */
import { z } from "zod";
import type { GpuBackend } from "../../gpu-backend.ts";
import { PROBLEM_BASE, Problem, type ProblemKind } from "../../problems.ts";
import {
  decodeInferResponse,
  encodeInferRequest,
  INFER_CONTENT_TYPE,
  type InferResponse,
  ProtocolError,
} from "../../protocol.ts";
import { definePlugin } from "../contract.ts";
import { intSetting, textSetting, urlSetting } from "../settings.ts";

export const DEFAULT_GPU_TIMEOUT_MS = 120_000;

/** Retry-After as seconds (it may also be an HTTP date). */
export function parseRetryAfter(v: string | null, fallback: number): number {
  if (!v) return fallback;
  const s = Number(v);
  if (Number.isFinite(s) && s >= 0) return Math.ceil(s);
  const at = Date.parse(v);
  return Number.isNaN(at) ? fallback : Math.max(1, Math.ceil((at - Date.now()) / 1000));
}

async function upstreamProblem(res: Response): Promise<{ kind?: string; detail?: string }> {
  try {
    const doc = JSON.parse((await res.text()).slice(0, 8192)) as { type?: string; detail?: string };
    const kind =
      typeof doc.type === "string" && doc.type.startsWith(PROBLEM_BASE) ? doc.type.slice(PROBLEM_BASE.length) : undefined;
    return { kind, detail: typeof doc.detail === "string" ? doc.detail : undefined };
  } catch {
    return {};
  }
}

const gpu = (kind: ProblemKind, detail: string, retryAfter: number, ext: Record<string, unknown> = {}) =>
  new Problem(kind, detail, { backend: "http", ...ext }, retryAfter);

/** Maps a non-200 answer of the GPU function to the edge's problem. */
async function failure(res: Response): Promise<Problem> {
  const retry = parseRetryAfter(res.headers.get("retry-after"), 5);
  const up = await upstreamProblem(res);
  const said = up.detail ? `: ${up.detail}` : "";
  const ext = { upstream_status: res.status };
  if (res.status >= 300 && res.status < 400)
    // Modal answers a web request still running after 150 s with a 303 to a result URL.
    return gpu("gpu-timeout", `the GPU function redirected (${res.status}): the request outlived its web endpoint`, 10, ext);
  if (res.status === 503 && up.kind === "gpu-unavailable")
    return gpu("gpu-unavailable", `GPU function unavailable${said}`, retry, ext);
  if (res.status === 503 || res.status === 429) return gpu("gpu-busy", `the GPU function is at capacity${said}`, retry, ext);
  if (res.status === 504) return gpu("gpu-timeout", `the GPU function timed out${said}`, retry, ext);
  if (res.status === 422 && up.kind === "model-not-found") return new Problem("model-not-found", up.detail ?? "unknown model");
  if (res.status === 401 || res.status === 403)
    return gpu("gpu-bad-response", "the GPU function refused our credentials (GPU_SECRET / MODAL_KEY / MODAL_SECRET)", 60, ext);
  return gpu("gpu-bad-response", `the GPU function answered ${res.status}${said}`, 5, ext);
}

export const HttpConfig = z.object({
  GPU_URL: urlSetting(),
  GPU_TIMEOUT_MS: intSetting(1, 3_600_000, DEFAULT_GPU_TIMEOUT_MS),
  GPU_SECRET: textSetting(),
  MODAL_KEY: textSetting(),
  MODAL_SECRET: textSetting(),
});
export type HttpConfig = z.output<typeof HttpConfig>;

export function createHttpBackend(settings: HttpConfig, deps: { fetch: typeof fetch }): GpuBackend {
  const base = settings.GPU_URL;
  const timeoutMs = settings.GPU_TIMEOUT_MS;
  const auth: Record<string, string> = {};
  if (settings.GPU_SECRET) auth.Authorization = `Bearer ${settings.GPU_SECRET}`;
  if (settings.MODAL_KEY) auth["Modal-Key"] = settings.MODAL_KEY;
  if (settings.MODAL_SECRET) auth["Modal-Secret"] = settings.MODAL_SECRET;

  return {
    name: "http",
    async servedModel(o = {}): Promise<string | undefined> {
      const signal = o.signal ? AbortSignal.any([AbortSignal.timeout(10_000), o.signal]) : AbortSignal.timeout(10_000);
      let res: Response;
      try {
        res = await deps.fetch(`${base}/v1/models`, { headers: auth, redirect: "manual", signal });
      } catch (e) {
        throw gpu("gpu-unavailable", `cannot reach the GPU function (${(e as Error)?.message ?? e})`, 10);
      }
      if (res.status !== 200) throw await failure(res);
      const doc = (await res.json().catch(() => ({}))) as { served?: unknown };
      if (doc.served === null) throw gpu("gpu-unavailable", "the GPU function is still loading its model", 10);
      if (typeof doc.served !== "string") throw gpu("gpu-bad-response", "GET /v1/models did not name the served model", 5);
      return doc.served;
    },
    async infer(req, o = {}): Promise<InferResponse> {
      const timeout = AbortSignal.timeout(timeoutMs);
      const signal = o.signal ? AbortSignal.any([timeout, o.signal]) : timeout;
      const timedOut = () => gpu("gpu-timeout", `no answer from the GPU function within ${timeoutMs} ms`, 10);
      let res: Response;
      try {
        res = await deps.fetch(`${base}/v1/infer`, {
          method: "POST",
          body: encodeInferRequest(req) as unknown as BodyInit,
          headers: { "Content-Type": INFER_CONTENT_TYPE, ...(o.requestId ? { "X-Request-Id": o.requestId } : {}), ...auth },
          redirect: "manual",
          signal,
        });
      } catch (e) {
        if (signal.aborted) throw timedOut();
        throw gpu("gpu-unavailable", `cannot reach the GPU function (${(e as Error)?.message ?? e})`, 10);
      }
      if (res.status !== 200) throw await failure(res);
      if ((res.headers.get("content-type") ?? "").split(";")[0].trim() !== INFER_CONTENT_TYPE) {
        await res.body?.cancel();
        throw gpu("gpu-bad-response", `the GPU function answered ${res.headers.get("content-type") ?? "no content type"}`, 5);
      }
      let buf: ArrayBuffer;
      try {
        buf = await res.arrayBuffer();
      } catch (e) {
        if (signal.aborted) throw timedOut();
        throw gpu("gpu-bad-response", `the GPU function's answer broke off (${(e as Error)?.message ?? e})`, 5);
      }
      let out: InferResponse;
      try {
        out = decodeInferResponse(new Uint8Array(buf));
      } catch (e) {
        if (e instanceof ProtocolError) throw gpu("gpu-bad-response", `malformed answer from the GPU function: ${e.message}`, 5);
        throw e;
      }
      if (out.header.width !== req.header.width || out.header.height !== req.header.height)
        throw gpu(
          "gpu-bad-response",
          `the GPU function returned ${out.header.width}x${out.header.height} for a ${req.header.width}x${req.header.height} region`,
          5,
        );
      return out;
    },
  };
}

export const httpBackend = () =>
  definePlugin({
    name: "http",
    version: "1.0.0",
    kind: "inference",
    description: "POST /v1/infer on any server speaking the protocol (gpu-jobs/server, Modal)",
    config: HttpConfig,
    setup: (config, host) => createHttpBackend(config, { fetch: host.fetch }),
  });
