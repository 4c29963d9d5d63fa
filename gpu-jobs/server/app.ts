/**
 * The GPU function as an HTTP app: `POST /v1/infer` (shared/protocol.ts), health, readiness and the
 * model list. Built from its dependencies so tests drive it with `app.request()` and a stand-in
 * session, without listening; main.ts owns the real session, the socket and the shutdown.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { basename } from "node:path";
import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { rgbaToRgb, rgbToRgba } from "../../shared/imaging/pixels.ts";
import type { Mask } from "../../shared/imaging/types.ts";
import { Problem } from "../../shared/problems.ts";
import {
  decodeInferRequest,
  encodeInferResponse,
  INFER_CONTENT_TYPE,
  type InferResponseHeader,
  MAX_INFER_PIXELS,
  PROTOCOL_VERSION,
  ProtocolError,
} from "../../shared/protocol.ts";
import type { ModelManifest } from "../../shared/schemas/manifest.ts";
import { type BoundedQueue, QueueAbortedError, QueueFullError } from "./queue.ts";
import type { ModelRunner } from "./threaded-runner.ts";

export interface LoadedModel {
  manifest: ModelManifest;
  /** The session behind a worker thread in production (threaded-runner.ts); a stand-in in tests. */
  runner: ModelRunner;
}

export interface GpuAppDeps {
  /** The served model, or undefined while it is still loading (readyz then says so). */
  model: () => LoadedModel | undefined;
  /** Manifests of every shipped model, for `GET /v1/models`. */
  manifests: () => ModelManifest[];
  queue: BoundedQueue;
  secret?: string;
  timeoutMs: number;
  /** True once SIGTERM arrived: new work is refused, queued work finishes. */
  draining?: () => boolean;
  log?: (entry: Record<string, unknown>) => void;
}

/** Largest body `POST /v1/infer` reads: the biggest region plus the length prefix and header. */
export const MAX_INFER_BODY = MAX_INFER_PIXELS * 4 + 4 + 64 * 1024;

const digest = (s: string) => createHash("sha256").update(s).digest();

function problemResponse(c: Context, p: Problem): Response {
  const headers: Record<string, string> = { "Content-Type": "application/problem+json" };
  if (p.retryAfter !== undefined) headers["Retry-After"] = String(p.retryAfter);
  if (p.kind === "unauthorized") headers["WWW-Authenticate"] = 'Bearer realm="gmcnn-gpu"';
  return c.body(JSON.stringify(p.toJSON(c.req.path)), p.status as 400, headers);
}

/** `name` or `name@version` against the loaded manifest. */
const matches = (spec: string, m: ModelManifest) => {
  const [name, version] = spec.split("@");
  return name === m.name && (!version || version === m.version);
};

export function createGpuApp(deps: GpuAppDeps): Hono {
  const app = new Hono();
  const secretDigest = deps.secret ? digest(deps.secret) : undefined;

  app.onError((err, c) => {
    if (err instanceof Problem) return problemResponse(c, err);
    deps.log?.({ level: "error", path: c.req.path, error: String(err?.stack ?? err) });
    return problemResponse(c, new Problem("internal", "unexpected error in the GPU function"));
  });
  app.notFound((c) => problemResponse(c, new Problem("not-found", `no route for ${c.req.method} ${c.req.path}`)));

  app.get("/healthz", (c) => c.json({ status: "ok" }));

  app.get("/readyz", (c) => {
    const m = deps.model();
    const body = {
      status: deps.draining?.() ? "draining" : m ? "ready" : "loading",
      model: m ? { name: m.manifest.name, version: m.manifest.version } : null,
      runtime: m?.runner.runtime ?? null,
      provider: m?.runner.provider ?? null,
      // What the runtime chose for this machine: precision, threads, and why.
      path: m?.runner.path ? { ...m.runner.path, file: basename(m.runner.path.file) } : null,
      queue: deps.queue.stats(),
    };
    return c.json(body, body.status === "ready" ? 200 : 503);
  });

  // Health stays open (Modal and load balancers probe it); everything under /v1 needs the secret.
  app.use("/v1/*", async (c, next) => {
    if (!secretDigest) return next();
    const auth = c.req.header("authorization") ?? "";
    const m = /^Bearer\s+(.+)$/i.exec(auth);
    if (!m || !timingSafeEqual(digest(m[1].trim()), secretDigest))
      throw new Problem("unauthorized", "missing or wrong shared secret (Authorization: Bearer <GMCNN_GPU_SECRET>)");
    return next();
  });

  app.get("/v1/models", (c) => {
    const served = deps.model()?.manifest;
    return c.json({
      served: served ? `${served.name}@${served.version}` : null,
      models: deps.manifests().map((manifest) => ({
        ...manifest,
        served: !!served && served.name === manifest.name && served.version === manifest.version,
      })),
    });
  });

  app.post(
    "/v1/infer",
    bodyLimit({
      maxSize: MAX_INFER_BODY,
      onError: () => {
        throw new Problem("payload-too-large", `infer bodies are limited to ${MAX_INFER_BODY} bytes`);
      },
    }),
    async (c) => {
      const arrived = performance.now();
      if (deps.draining?.()) throw new Problem("gpu-unavailable", "the GPU function is shutting down", {}, 5);
      const loaded = deps.model();
      if (!loaded) throw new Problem("gpu-unavailable", "the model is still loading", {}, 10);
      const type = (c.req.header("content-type") ?? "").split(";")[0].trim();
      if (type !== INFER_CONTENT_TYPE) throw new Problem("unsupported-media-type", `expected Content-Type ${INFER_CONTENT_TYPE}`);

      let req: ReturnType<typeof decodeInferRequest>;
      try {
        req = decodeInferRequest(new Uint8Array(await c.req.arrayBuffer()));
      } catch (e) {
        if (e instanceof ProtocolError) throw new Problem("bad-request", `bad infer body: ${e.message}`);
        throw e;
      }
      const { width, height } = req.header;
      if (req.header.model && !matches(req.header.model, loaded.manifest))
        throw new Problem(
          "model-not-found",
          `this GPU function serves ${loaded.manifest.name}@${loaded.manifest.version}, not ${req.header.model}`,
        );

      const image = rgbToRgba(req.rgb, width, height);
      const mask: Mask = { width, height, data: req.mask };
      for (let i = 0; i < mask.data.length; i++) mask.data[i] = mask.data[i] ? 1 : 0;

      // One deadline for queue wait + inference; the caller hanging up also frees its queue place.
      const deadline = new AbortController();
      const timer = setTimeout(() => deadline.abort(), deps.timeoutMs);
      const signal = AbortSignal.any([deadline.signal, c.req.raw.signal]);
      const job = deps.queue.run(() => loaded.runner.infer(image, mask), signal);
      job.catch(() => {}); // a run that outlives the deadline settles later, unobserved
      const timedOut = new Promise<never>((_, reject) =>
        deadline.signal.addEventListener("abort", () =>
          reject(new Problem("gpu-timeout", `no result within ${deps.timeoutMs} ms`, {}, 5)),
        ),
      );
      let result: Awaited<typeof job>;
      try {
        result = await Promise.race([job, timedOut]);
      } catch (e) {
        if (e instanceof QueueFullError)
          throw new Problem("gpu-busy", "the inference queue is full", { queue: deps.queue.stats() }, e.retryAfterS);
        if (e instanceof QueueAbortedError)
          throw new Problem("gpu-timeout", `no inference slot within ${deps.timeoutMs} ms`, {}, deps.queue.retryAfterS());
        throw e;
      } finally {
        clearTimeout(timer);
      }

      const header: InferResponseHeader = {
        v: PROTOCOL_VERSION,
        width,
        height,
        model: { name: loaded.manifest.name, version: loaded.manifest.version },
        provider: loaded.runner.path?.label ?? loaded.runner.provider,
        timing: {
          queue_ms: round(result.waitMs),
          inference_ms: round(result.runMs),
          total_ms: round(performance.now() - arrived),
        },
      };
      deps.log?.({ path: "/v1/infer", request_id: req.header.request_id, width, height, ...header.timing });
      const body = encodeInferResponse({ header, rgb: rgbaToRgb(result.value) });
      return c.body(body as Uint8Array<ArrayBuffer>, 200, {
        "Content-Type": INFER_CONTENT_TYPE,
        "Server-Timing": `queue;dur=${header.timing.queue_ms}, inference;dur=${header.timing.inference_ms}`,
      });
    },
  );

  return app;
}

const round = (ms: number) => Math.round(ms * 10) / 10;
