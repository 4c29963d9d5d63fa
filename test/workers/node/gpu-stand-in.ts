import { Hono } from "hono";
import { createGpuApp } from "../../../gpu-jobs/server/app.ts";
import { BoundedQueue } from "../../../gpu-jobs/server/queue.ts";
import type { ModelRunner } from "../../../gpu-jobs/server/threaded-runner.ts";
import { type Mask, newImage, type RgbaImage } from "../../../shared/imaging/types.ts";
import { INFER_CONTENT_TYPE } from "../../../shared/protocol.ts";
import type { ModelManifest } from "../../../shared/schemas/manifest.ts";
import { serveLocal } from "./serve-local.ts";

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

  return serveLocal(root.fetch);
}
