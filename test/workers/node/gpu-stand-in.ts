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

/** Hole pixels become FILL (or `colour`), everything else is returned as sent. */
export function fill(img: RgbaImage, mask: Mask, colour: readonly number[] = FILL): RgbaImage {
  const out = newImage(img.width, img.height);
  out.data.set(img.data);
  for (let i = 0; i < mask.data.length; i++) if (mask.data[i]) out.data.set(colour, i * 4);
  return out;
}

/** The fill colour of /sized: it spells the size of the image the model was given. */
export const sizeColour = (w: number, h: number) => [w % 256, Math.floor(w / 256), h % 256];

const standIn = (delayMs = 0, onInfer?: () => void, colour?: (img: RgbaImage) => number[]): ModelRunner => ({
  runtime: "node",
  provider: "stand-in",
  infer: (img, mask) => {
    onInfer?.();
    return new Promise((r) => setTimeout(() => r(fill(img, mask, colour?.(img))), delayMs));
  },
  close: async () => {},
});
const manifest = { name: "stand-in", version: "1" } as ModelManifest;

function gpuApp(
  o: {
    queue?: BoundedQueue;
    delayMs?: number;
    secret?: string;
    version?: string;
    onInfer?: () => void;
    colour?: (img: RgbaImage) => number[];
  } = {},
) {
  const m = o.version ? ({ ...manifest, version: o.version } as ModelManifest) : manifest;
  const model = { runner: standIn(o.delayMs, o.onInfer, o.colour), manifest: m };
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
  root.route("/sized", gpuApp({ colour: (img) => sizeColour(img.width, img.height) }));
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
  // Busy with a Retry-After that is neither the edge's default (5) nor /busy's (1).
  const full37 = new (class extends BoundedQueue {
    override retryAfterS() {
      return 37;
    }
  })({ concurrency: 1, maxWaiting: 0 });
  void full37.run(() => new Promise<never>(() => {}));
  root.route("/busy-37", gpuApp({ queue: full37 }));

  return serveLocal(root.fetch);
}
