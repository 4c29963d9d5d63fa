/**
 * Entry of the GPU function server: `tsx gpu-jobs/server/main.ts` (npm run dev:gpu, npm start,
 * Modal). Listens first and loads the model after, so health probes answer during the load
 * (GMCNN_LISTEN_AFTER_LOAD=1 reverses that for Modal). On SIGTERM it stops accepting, lets queued
 * and running inferences finish, then exits 0.
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { loadNodePlugins } from "../plugins/host.ts";
import { listModels, MODELS_DIR, resolveModel, verifyFile } from "../runtime/models.ts";
import { createGpuApp, type LoadedModel } from "./app.ts";
import { configFromEnv } from "./config.ts";
import { BoundedQueue } from "./queue.ts";
import { startThreadedRunner } from "./threaded-runner.ts";

const cfg = configFromEnv();
const log = (entry: Record<string, unknown>) => {
  if (cfg.log || entry.level === "error" || entry.event) console.log(JSON.stringify({ t: new Date().toISOString(), ...entry }));
};

// The plugin config (gmcnn.config.ts, settings from the environment) is checked before anything
// listens: a bad setting stops the server with the plugin and the field named.
const plugins = await loadNodePlugins(process.env).catch((e: Error) => {
  console.error(`plugin configuration: ${e.message}`);
  process.exit(1);
});
log({ event: "plugins", loaded: plugins.describe().map((p) => `${p.kind}/${p.name}@${p.version}`) });

const modelsDir = cfg.modelsDir ?? MODELS_DIR;
const entry = resolveModel(cfg.model, modelsDir);
const queue = new BoundedQueue({ concurrency: cfg.concurrency, maxWaiting: cfg.maxWaiting });
let loaded: LoadedModel | undefined;
let draining = false;
let server: Server | undefined;

const app = createGpuApp({
  model: () => loaded,
  manifests: () => listModels(modelsDir).map((e) => e.manifest),
  queue,
  secret: cfg.secret,
  timeoutMs: cfg.timeoutMs,
  draining: () => draining,
  log,
});

function listen(): void {
  server = serve({ fetch: app.fetch, port: cfg.port, hostname: cfg.host }, (info: AddressInfo) =>
    log({ event: "listening", url: `http://${info.address}:${info.port}`, auth: cfg.secret ? "bearer" : "none" }),
  ) as Server;
}

async function load(): Promise<void> {
  try {
    verifyFile(entry);
    const t0 = performance.now();
    const runner = await startThreadedRunner(entry.path, { threads: cfg.threads });
    loaded = { runner, manifest: entry.manifest };
    log({
      event: "ready",
      model: `${entry.manifest.name}@${entry.manifest.version}`,
      runtime: runner.runtime,
      provider: runner.provider,
      path: runner.path?.label,
      reason: runner.path?.reason,
      load_ms: Math.round(performance.now() - t0),
    });
  } catch (e) {
    log({ level: "error", event: "model-load-failed", error: String((e as Error)?.message ?? e) });
    process.exit(1);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function shutdown(signal: string): Promise<void> {
  if (draining) return;
  draining = true;
  log({ event: "draining", signal, queue: queue.stats() });
  const s = server;
  const closed = s ? new Promise<void>((r) => s.close(() => r())) : Promise.resolve();
  const drained = await Promise.race([queue.idle().then(() => true), sleep(cfg.drainTimeoutMs).then(() => false)]);
  // close() only dropped the connections idle at that moment; the last responses are flushing now.
  const sweep = setInterval(() => s?.closeIdleConnections(), 100);
  await Promise.race([closed, sleep(5_000)]);
  clearInterval(sweep);
  await loaded?.runner.close().catch(() => {});
  log({ event: "stopped", drained });
  process.exit(drained ? 0 : 1);
}
process.once("SIGTERM", () => void shutdown("SIGTERM"));
process.once("SIGINT", () => void shutdown("SIGINT"));

if (cfg.listenAfterLoad) {
  await load();
  listen();
} else {
  listen();
  await load();
}
