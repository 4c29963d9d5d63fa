/**
 * The GPU side of the Worker tests: the real GPU function app (gpu-jobs/server/app.ts) on a real
 * 127.0.0.1 socket, with a deterministic fill instead of the model so tests are fast and can
 * check exact pixels. Path prefixes give the failure modes a deployment meets:
 *   /ok       the app as deployed (fill colour FILL, manifest "stand-in@1")
 *   /secret   the same app requiring `Authorization: Bearer stand-in-secret`
 *   /busy     its queue permanently full: the real 503 gpu-busy with Retry-After
 *   /slow     each inference takes SLOW_MS (for the edge's timeout)
 *   /garbage  answers 200 with bytes that are not the protocol
 *   /v2       like /ok but serving "stand-in@2" (a new model version)
 *   /counted  like /ok, each inference takes COUNTED_MS; GET /counted/count = inferences so far
 *   /metered  like /ok with room for 64 concurrent calls; GET /metered/count = inferences so far
 *             (billing.test.ts only: its counts must not move with other files' calls)
 *   /jobs      like /ok; GET /jobs/count = inferences so far (jobs.test.ts only, likewise)
 */
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { createGpuApp } from "../../../gpu-jobs/server/app.ts";
import { BoundedQueue } from "../../../gpu-jobs/server/queue.ts";
import type { ModelRunner } from "../../../gpu-jobs/server/threaded-runner.ts";
import { type Mask, newImage, type RgbaImage } from "../../../shared/imaging/types.ts";
import { INFER_CONTENT_TYPE } from "../../../shared/protocol.ts";
import type { ModelManifest } from "../../../shared/schemas/manifest.ts";

export const FILL = [12, 200, 99] as const;
export const SLOW_MS = 3000;
export const COUNTED_MS = 400;
export const STAND_IN_SECRET = "stand-in-secret";

/** Hole pixels become FILL, everything else is returned as sent. */
export function fill(img: RgbaImage, mask: Mask): RgbaImage {
  const out = newImage(img.width, img.height);
  out.data.set(img.data);
  for (let i = 0; i < mask.data.length; i++) if (mask.data[i]) out.data.set(FILL, i * 4);
  return out;
}

const standIn = (delayMs = 0, onInfer?: () => void): ModelRunner => ({
  runtime: "node",
  provider: "stand-in",
  infer: (img, mask) => {
    onInfer?.();
    return new Promise((r) => setTimeout(() => r(fill(img, mask)), delayMs));
  },
  close: async () => {},
});
const manifest = { name: "stand-in", version: "1" } as ModelManifest;

function gpuApp(o: { queue?: BoundedQueue; delayMs?: number; secret?: string; version?: string; onInfer?: () => void } = {}) {
  const m = o.version ? ({ ...manifest, version: o.version } as ModelManifest) : manifest;
  const model = { runner: standIn(o.delayMs, o.onInfer), manifest: m };
  return createGpuApp({
    model: () => model,
    manifests: () => [m],
    queue: o.queue ?? new BoundedQueue({ concurrency: 2, maxWaiting: 16 }),
    secret: o.secret,
    timeoutMs: 30_000,
  });
}

export async function startStandIn(): Promise<{ url: string; close: () => Promise<void> }> {
  const full = new BoundedQueue({ concurrency: 1, maxWaiting: 0 });
  void full.run(() => new Promise<never>(() => {})); // occupies the only slot for good

  const root = new Hono();
  root.route("/ok", gpuApp());
  root.route("/secret", gpuApp({ secret: STAND_IN_SECRET }));
  root.route("/busy", gpuApp({ queue: full }));
  root.route("/slow", gpuApp({ delayMs: SLOW_MS }));
  root.route("/v2", gpuApp({ version: "2" }));
  let counted = 0;
  root.get("/counted/count", (c) => c.json({ count: counted }));
  root.route("/counted", gpuApp({ delayMs: COUNTED_MS, onInfer: () => counted++ }));
  let metered = 0;
  root.get("/metered/count", (c) => c.json({ count: metered }));
  root.route("/metered", gpuApp({ queue: new BoundedQueue({ concurrency: 8, maxWaiting: 64 }), onInfer: () => metered++ }));
  let jobs = 0;
  root.get("/jobs/count", (c) => c.json({ count: jobs }));
  root.route("/jobs", gpuApp({ onInfer: () => jobs++ }));
  root.post("/garbage/v1/infer", (c) => c.body("not the protocol", 200, { "Content-Type": INFER_CONTENT_TYPE }));

  const server = serve({ fetch: root.fetch, port: 0, hostname: "127.0.0.1" });
  await new Promise<void>((r) => server.once("listening", () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        (server as import("node:http").Server).closeAllConnections();
        server.close(() => r());
      }),
  };
}
