/**
 * The GPU function server: the app through `app.request()` with a stand-in session (fast, exact),
 * and the real process (`tsx gpu-jobs/server/main.ts`, real model) for the SIGTERM drain.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGpuApp, type LoadedModel } from "../../gpu-jobs/server/app.ts";
import { configFromEnv } from "../../gpu-jobs/server/config.ts";
import { BoundedQueue, QueueAbortedError, QueueFullError } from "../../gpu-jobs/server/queue.ts";
import type { ModelRunner } from "../../gpu-jobs/server/threaded-runner.ts";
import { type Mask, newImage, type RgbaImage } from "../../shared/imaging/types.ts";
import { decodeInferResponse, encodeInferRequest, INFER_CONTENT_TYPE } from "../../shared/protocol.ts";
import type { ModelManifest } from "../../shared/schemas/manifest.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const manifest = { name: "gmcnn", version: "9.9.9" } as ModelManifest;

/** A stand-in model: hole pixels become mid-grey after `delayMs`. */
const fill = (delayMs = 0): ModelRunner => ({
  runtime: "node",
  provider: "stand-in",
  async infer(img: RgbaImage, m: Mask): Promise<RgbaImage> {
    if (delayMs) await sleep(delayMs);
    const out = newImage(img.width, img.height);
    out.data.set(img.data);
    for (let i = 0; i < m.data.length; i++) if (m.data[i]) out.data.set([128, 128, 128], i * 4);
    return out;
  },
  close: async () => {},
});

function body(w = 8, h = 6, header: Record<string, unknown> = {}) {
  const rgb = new Uint8Array(w * h * 3).fill(50);
  const mask = new Uint8Array(w * h);
  mask[0] = 1;
  return encodeInferRequest({ header: { v: 1, width: w, height: h, ...header } as never, rgb, mask });
}

const infer = (app: ReturnType<typeof createGpuApp>, b: Uint8Array = body(), headers: Record<string, string> = {}) =>
  app.request("/v1/infer", {
    method: "POST",
    body: b as Uint8Array<ArrayBuffer>,
    headers: { "Content-Type": INFER_CONTENT_TYPE, ...headers },
  });

function makeApp(o: Partial<Parameters<typeof createGpuApp>[0]> & { runner?: ModelRunner } = {}) {
  let loaded: LoadedModel | undefined = { runner: o.runner ?? fill(), manifest };
  const app = createGpuApp({
    model: () => loaded,
    manifests: () => [manifest],
    queue: new BoundedQueue({ concurrency: 1, maxWaiting: 4 }),
    timeoutMs: 5_000,
    ...o,
  });
  return { app, unload: () => (loaded = undefined) };
}

describe("BoundedQueue", () => {
  it("runs `concurrency` at a time, queues `maxWaiting`, refuses the rest", async () => {
    const q = new BoundedQueue({ concurrency: 2, maxWaiting: 1 });
    let peak = 0;
    let now = 0;
    const events: string[] = [];
    // Each task runs until the test lets it finish: the order of events, not the clock, shows
    // that the third waited for a slot.
    const gates = [0, 1, 2].map(() => {
      let resolve = () => {};
      const promise = new Promise<void>((r) => (resolve = r));
      return { promise, resolve };
    });
    const task = (i: number) => async () => {
      events.push(`start ${i}`);
      peak = Math.max(peak, ++now);
      await gates[i].promise;
      now--;
      events.push(`end ${i}`);
      return i;
    };
    const runs = [0, 1, 2].map((i) => q.run(task(i)));
    await expect(q.run(task(3))).rejects.toBeInstanceOf(QueueFullError);
    expect(q.stats()).toMatchObject({ running: 2, waiting: 1 });
    await Promise.resolve();
    expect(events).toEqual(["start 0", "start 1"]);
    gates[2].resolve(); // the third is free to finish as soon as it starts
    gates[1].resolve();
    await runs[1];
    await runs[2];
    expect(events).toEqual(["start 0", "start 1", "end 1", "start 2", "end 2"]);
    gates[0].resolve();
    const done = await Promise.all(runs);
    expect(done.map((d) => d.value)).toEqual([0, 1, 2]);
    expect(peak).toBe(2);
    expect(q.stats()).toMatchObject({ running: 0, waiting: 0, completed: 3 });
  });

  it("drops a waiter whose signal aborts, and idle() resolves when all is done", async () => {
    const q = new BoundedQueue({ concurrency: 1, maxWaiting: 2 });
    const first = q.run(() => sleep(40));
    const ac = new AbortController();
    const second = q.run(() => sleep(1), ac.signal);
    ac.abort();
    await expect(second).rejects.toBeInstanceOf(QueueAbortedError);
    expect(q.stats().waiting).toBe(0);
    await q.idle();
    await first;
    expect(q.stats().completed).toBe(1);
  });

  it("estimates Retry-After from the work ahead", async () => {
    const q = new BoundedQueue({ concurrency: 1, maxWaiting: 0 });
    await q.run(() => sleep(20));
    const p = q.run(() => sleep(50));
    const e = await q.run(() => sleep(1)).catch((x) => x);
    expect(e).toBeInstanceOf(QueueFullError);
    expect((e as QueueFullError).retryAfterS).toBeGreaterThanOrEqual(1);
    await p;
  });
});

describe("GPU function app", () => {
  it("serves health, readiness with the provider, and the models", async () => {
    const { app, unload } = makeApp();
    expect((await app.request("/healthz")).status).toBe(200);
    const ready = await app.request("/readyz");
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({
      status: "ready",
      provider: "stand-in",
      model: { name: "gmcnn", version: "9.9.9" },
    });
    expect(await (await app.request("/v1/models")).json()).toMatchObject({ served: "gmcnn@9.9.9", models: [{ served: true }] });
    unload();
    expect(await (await app.request("/readyz")).json()).toMatchObject({ status: "loading" });
    const r = await infer(app);
    expect(r.status).toBe(503);
    expect(r.headers.get("retry-after")).toBe("10");
  });

  it("reports the execution path the runtime chose: /readyz in full with the measured table, the infer header by its label", async () => {
    const path = {
      precision: "int8",
      threads: 2,
      label: "cpu; precision=int8; threads=2",
      reason: "int8 variant on cpu; fastest at 256x256: fp32 380, int8 300 ms",
      file: "/m/gmcnn.int8.onnx",
      measured: {
        size: 256,
        cached: false,
        table: [
          { precision: "fp32", engine: "onnxruntime", file: "gmcnn.onnx", ms: 380 },
          { precision: "int8", engine: "onnxruntime", file: "gmcnn.int8.onnx", ms: 300 },
        ],
      },
    };
    const { app } = makeApp({ runner: { ...fill(), provider: "cpu", path } });
    expect(await (await app.request("/readyz")).json()).toMatchObject({
      provider: "cpu",
      path: { ...path, file: "gmcnn.int8.onnx" },
    });
    const out = decodeInferResponse(new Uint8Array(await (await infer(app)).arrayBuffer()));
    expect(out.header.provider).toBe("cpu; precision=int8; threads=2");
  });

  it("infers: binary in, binary out, timing in the header and in Server-Timing", async () => {
    const { app } = makeApp();
    const r = await infer(app, body(8, 6, { request_id: "abc", model: "gmcnn@9.9.9" }));
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe(INFER_CONTENT_TYPE);
    expect(r.headers.get("server-timing")).toMatch(/queue;dur=[\d.]+, inference;dur=[\d.]+/);
    const out = decodeInferResponse(new Uint8Array(await r.arrayBuffer()));
    expect(out.header).toMatchObject({ width: 8, height: 6, provider: "stand-in", model: { name: "gmcnn" } });
    expect(out.header.timing.total_ms).toBeGreaterThanOrEqual(out.header.timing.inference_ms);
    expect([...out.rgb.subarray(0, 6)]).toEqual([128, 128, 128, 50, 50, 50]);
  });

  it("refuses with problem+json: 415 type, 400 body, 422 model, 413 size", async () => {
    const { app } = makeApp();
    const type = await app.request("/v1/infer", { method: "POST", body: "x", headers: { "Content-Type": "text/plain" } });
    expect(type.status).toBe(415);
    expect(type.headers.get("content-type")).toBe("application/problem+json");
    const bad = await infer(app, new Uint8Array([0, 0, 0, 2, 123, 125, 9]));
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { type: string }).type).toMatch(/bad-request$/);
    const other = await infer(app, body(8, 6, { model: "other" }));
    expect(other.status).toBe(422);
    expect(((await other.json()) as { type: string }).type).toMatch(/model-not-found$/);
    const huge = await app.request("/v1/infer", {
      method: "POST",
      body: "x",
      headers: { "Content-Type": INFER_CONTENT_TYPE, "Content-Length": String(200 * 1024 * 1024) },
    });
    expect(huge.status).toBe(413);
  });

  it("checks the shared secret when one is set (health stays open)", async () => {
    const { app } = makeApp({ secret: "s3" });
    expect((await infer(app)).status).toBe(401);
    expect((await infer(app, body(), { Authorization: "Bearer nope" })).status).toBe(401);
    expect((await infer(app, body(), { Authorization: "Bearer s3" })).status).toBe(200);
    expect((await app.request("/readyz")).status).toBe(200);
  });

  it("answers 503 gpu-busy with Retry-After when the queue is saturated", async () => {
    const { app } = makeApp({ queue: new BoundedQueue({ concurrency: 1, maxWaiting: 1 }), runner: fill(300) });
    const results = await Promise.all([0, 1, 2, 3].map(() => infer(app)));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 503, 503]);
    for (const r of results.filter((x) => x.status === 503)) {
      expect(Number(r.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect(((await r.json()) as { type: string }).type).toMatch(/gpu-busy$/);
    }
  });

  it("answers 504 when queue wait + inference exceed the timeout", async () => {
    const { app } = makeApp({ runner: fill(400), timeoutMs: 100 });
    const r = await infer(app);
    expect(r.status).toBe(504);
    expect(((await r.json()) as { type: string }).type).toMatch(/gpu-timeout$/);
  });

  it("refuses new work while draining", async () => {
    const { app } = makeApp({ draining: () => true });
    const r = await infer(app);
    expect(r.status).toBe(503);
    expect(((await r.json()) as { type: string }).type).toMatch(/gpu-unavailable$/);
    expect((await app.request("/readyz")).status).toBe(503);
  });

  it("reads its settings from the environment", () => {
    expect(configFromEnv({})).toMatchObject({ port: 8788, host: "127.0.0.1", concurrency: 1, maxWaiting: 8 });
    expect(configFromEnv({ PORT: "9000", GMCNN_GPU_SECRET: "x", GMCNN_QUEUE_MAX_WAITING: "0" })).toMatchObject({
      port: 9000,
      secret: "x",
      maxWaiting: 0,
    });
    expect(() => configFromEnv({ GMCNN_QUEUE_CONCURRENCY: "0" })).toThrow(/GMCNN_QUEUE_CONCURRENCY/);
  });
});

describe("server process (real model)", () => {
  let proc: ChildProcess;
  let url = "";
  const lines: string[] = [];

  beforeAll(async () => {
    proc = spawn(process.execPath, ["--import", "tsx", "gpu-jobs/server/main.ts"], {
      cwd: ROOT,
      env: { ...process.env, PORT: "0", GMCNN_THREADS: "1", GMCNN_QUEUE_MAX_WAITING: "2" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const rl = createInterface({ input: proc.stdout! });
    rl.on("line", (l) => lines.push(l));
    const deadline = Date.now() + 120_000;
    while (!lines.some((l) => l.includes('"event":"ready"'))) {
      if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`server did not start:\n${lines.join("\n")}`);
      await sleep(100);
    }
    url = JSON.parse(lines.find((l) => l.includes('"event":"listening"'))!).url;
  });
  afterAll(() => {
    if (proc.exitCode === null) proc.kill("SIGKILL");
  });

  it("refuses a request beyond the queue at once, during an inference, then drains on SIGTERM and exits 0", async () => {
    const sent = [0, 1, 2].map(() =>
      fetch(`${url}/v1/infer`, {
        method: "POST",
        body: body(256, 192) as Uint8Array<ArrayBuffer>,
        headers: { "Content-Type": INFER_CONTENT_TYPE },
      }),
    );
    // SIGTERM only once all three are inside the queue (one running, two waiting); /readyz
    // answers during inference because the model runs on a worker thread.
    let completedBefore = -1;
    for (const deadline = Date.now() + 30_000; ; ) {
      const q = (
        (await (await fetch(`${url}/readyz`)).json()) as { queue: { running: number; waiting: number; completed: number } }
      ).queue;
      completedBefore = q.completed;
      if (q.running + q.waiting === 3) break;
      if (Date.now() > deadline) throw new Error(`requests never all queued: ${JSON.stringify(q)}`);
      await sleep(10);
    }
    // Full (one running, two waiting): the next one is refused without waiting for the model.
    // The refusal carries the queue as it was when refused: still one running and two waiting,
    // and none of the three finished.
    const refused = await fetch(`${url}/v1/infer`, {
      method: "POST",
      body: body(256, 192) as Uint8Array<ArrayBuffer>,
      headers: { "Content-Type": INFER_CONTENT_TYPE },
    });
    expect(refused.status).toBe(503);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    const problem = (await refused.json()) as { type: string; queue: { running: number; waiting: number; completed: number } };
    expect(problem.type).toMatch(/gpu-busy$/);
    expect(problem.queue).toMatchObject({ running: 1, waiting: 2, completed: completedBefore });

    const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
    proc.kill("SIGTERM");
    const results = await Promise.all(sent);
    expect(results.map((r) => r.status)).toEqual([200, 200, 200]);
    for (const r of results) expect(decodeInferResponse(new Uint8Array(await r.arrayBuffer())).header.width).toBe(256);
    expect(await exited).toBe(0);
    expect(lines.some((l) => l.includes('"event":"draining"'))).toBe(true);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });
});
