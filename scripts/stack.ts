/**
 * The local stack (`npm start`): the GPU function server (gpu-jobs/server, ONNX Runtime) and the
 * edge Worker under `wrangler dev` (workerd, local persistence in .wrangler/), wired together,
 * health-checked, and stopped together on Ctrl-C. `startStack()` is the same thing for tests and
 * the benchmark, on any ports.
 *
 * Environment: GMCNN_EDGE_PORT (8787), GMCNN_GPU_PORT (8788), GMCNN_HOST (127.0.0.1),
 * GMCNN_DEV_API_KEY (else the key saved in .wrangler/dev-api-key, else a new one; an unmetered
 * dev key, the Worker's API_KEYS), GMCNN_ADMIN_TOKEN (else .wrangler/admin-token, else a new
 * one; the Worker's ADMIN_TOKEN for /v1/admin/*),
 * GMCNN_GPU_URL (use a running GPU function, e.g. on Modal, instead of starting one),
 * GMCNN_STATE_DIR (wrangler dev's local persistence, default .wrangler/state).
 *
 * `npm start` also makes a metered account for the quick start (its key is saved beside the
 * database, in <state>/metered-api-key): the dev key is unmetered, so GET /v1/usage answers it 403.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { buildWeb } from "../web/build.ts";
import { checkEdgePlugins } from "./check-plugins.ts";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const WRANGLER = join(ROOT, "node_modules/wrangler/bin/wrangler.js");
const KEY_FILE = join(ROOT, ".wrangler/dev-api-key");
const ADMIN_TOKEN_FILE = join(ROOT, ".wrangler/admin-token");
const URL_SECRET_FILE = join(ROOT, ".wrangler/url-signing-secret");

export interface StackOptions {
  host?: string;
  edgePort?: number;
  gpuPort?: number;
  /** Use this GPU function instead of starting the local server. */
  gpuUrl?: string;
  apiKey?: string;
  adminToken?: string;
  /** wrangler dev's local persistence (default .wrangler/state). */
  persistTo?: string;
  /** Extra environment for the GPU server (GMCNN_THREADS, GMCNN_QUEUE_*, ...). */
  gpuEnv?: Record<string, string>;
  /** Extra Worker vars (limits, GPU_TIMEOUT_MS, ...). */
  vars?: Record<string, string>;
  /** Receives every output line of both processes; default: printed with a prefix. */
  log?: (source: "gpu" | "edge", line: string) => void;
  readyTimeoutMs?: number;
  /**
   * Serve the demo page and the web assets beside the API (default true). Without them the
   * edge is the API alone, and wrangler dev's /cdn-cgi/handler/scheduled reaches the cron
   * handler (with --assets it answers 500: the assets router has no scheduled handler).
   */
  web?: boolean;
}

export interface Stack {
  edgeUrl: string;
  gpuUrl: string;
  apiKey: string;
  adminToken: string;
  /** What the GPU function's /readyz said once it was ready. */
  gpu: { model: { name: string; version: string } | null; provider: string | null };
  /** Resolves when either process exits without stop() having been called. */
  exited: Promise<{ name: "gpu" | "edge"; code: number | null }>;
  /** Stops the local GPU server only (the edge then answers 503). */
  stopGpu(): Promise<void>;
  stop(): Promise<void>;
}

export async function freePort(host = "127.0.0.1"): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, host, r));
  const { port } = s.address() as { port: number };
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** The given value, else the one a previous run saved in `file`, else a new one (saved for next time). */
function savedSecret(given: string | undefined, file: string, prefix: string): string {
  if (given) return given;
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  const secret = `${prefix}${randomBytes(16).toString("hex")}`;
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return secret;
}

export const defaultStateDir = (env = process.env): string => resolve(ROOT, env.GMCNN_STATE_DIR || ".wrangler/state");

export const devApiKey = (env = process.env): string => savedSecret(env.GMCNN_DEV_API_KEY, KEY_FILE, "gmcnn_dev_");
export const adminToken = (env = process.env): string => savedSecret(env.GMCNN_ADMIN_TOKEN, ADMIN_TOKEN_FILE, "gmcnn_admin_");

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A grace period that does not keep the process alive once what it waits for has happened. */
const grace = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());

function launch(name: "gpu" | "edge", args: string[], env: NodeJS.ProcessEnv, log: StackOptions["log"]): ChildProcess {
  // Own process group, so stopping it also stops what it spawned (wrangler -> workerd), and a
  // Ctrl-C in the terminal reaches only us: we stop the children in order.
  const p = spawn(process.execPath, args, { cwd: ROOT, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  for (const stream of [p.stdout!, p.stderr!]) createInterface({ input: stream }).on("line", (l) => log?.(name, l));
  // Detached groups outlive a parent that crashes: take them down with this process, whatever ends it.
  const reap = () => {
    try {
      process.kill(-p.pid!, "SIGKILL");
    } catch {
      /* already gone */
    }
  };
  process.once("exit", reap);
  return p;
}

async function stopProcess(p: ChildProcess, graceMs: number): Promise<void> {
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(-p.pid!, s); // the group this stack started (members may outlive its leader)
    } catch {
      /* already gone */
    }
  };
  const done = () => p.exitCode !== null || p.signalCode !== null;
  const exited = done() ? Promise.resolve() : new Promise<void>((r) => p.once("exit", () => r()));
  signal("SIGTERM");
  await Promise.race([exited, grace(graceMs)]);
  if (!done()) await Promise.all([exited, signal("SIGKILL")]);
  else signal("SIGKILL"); // stragglers of the group, e.g. a workerd whose wrangler has exited
}

async function waitFor(url: string, what: string, deadline: number, alive: () => boolean): Promise<unknown> {
  let last = "";
  while (Date.now() < deadline) {
    if (!alive()) throw new Error(`${what} exited before it was ready`);
    try {
      // No short per-request timeout: a first request that takes seconds (workerd compiling the
      // Worker on a busy machine) aborted by the poller makes workerd log a "Broken pipe" ERROR.
      const r = await fetch(url, { signal: AbortSignal.timeout(Math.max(1000, deadline - Date.now())) });
      if (r.ok) return await r.json();
      last = `HTTP ${r.status}`;
    } catch (e) {
      last = String((e as Error).message);
    }
    await sleep(250);
  }
  throw new Error(`${what} not ready at ${url} (${last})`);
}

/**
 * wrangler's environment: no metrics, no colours, and no `Request.cf` download (miniflare fetches
 * https://workers.cloudflare.com/cf.json at start and logs the failure as an error when offline;
 * locally `request.cf` then holds miniflare's placeholder values, which nothing here reads).
 */
const WRANGLER_ENV = { WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", NO_COLOR: "1", FORCE_COLOR: "0" };

/**
 * `wrangler d1 migrations apply` on the local database under `persistTo` (idempotent). wrangler
 * prints its status table once per migration applied; the log gets one line (all of wrangler's
 * output when it fails).
 */
async function migrateLocalDb(persistTo: string, log: StackOptions["log"]): Promise<void> {
  const lines: string[] = [];
  const p = launch(
    "edge",
    [WRANGLER, "d1", "migrations", "apply", "gmcnn-edge", "--local", "--persist-to", persistTo],
    { ...process.env, CI: "1", ...WRANGLER_ENV },
    (_, line) => lines.push(line),
  );
  const code = await new Promise<number | null>((r) => p.once("exit", r));
  if (code !== 0) {
    for (const line of lines) log?.("edge", line);
    throw new Error(`wrangler d1 migrations apply exited with ${code}`);
  }
  log?.("edge", migrationSummary(lines));
}

/** One line for wrangler's migration output: what was applied, or that there was nothing to do. */
export function migrationSummary(lines: readonly string[]): string {
  const toApply = lines.findIndex((l) => l.includes("Migrations to be applied"));
  if (toApply < 0) return "database: migrations up to date";
  const names: string[] = [];
  for (const l of lines.slice(toApply + 1)) {
    if (l.startsWith("?") || l.includes("About to apply")) break;
    const m = /│\s*(\S+\.sql)\s*│/.exec(l);
    if (m) names.push(m[1]);
  }
  return `database: applied ${names.length} migration(s): ${names.join(", ")}`;
}

export async function startStack(o: StackOptions = {}): Promise<Stack> {
  const host = o.host ?? "127.0.0.1";
  const edgePort = o.edgePort ?? (await freePort(host));
  const apiKey = o.apiKey ?? devApiKey();
  const admin = o.adminToken ?? adminToken();
  const persistTo = o.persistTo ?? defaultStateDir();
  const log = o.log ?? ((src, line) => console.log(`[${src}] ${line}`));
  const deadline = Date.now() + (o.readyTimeoutMs ?? 180_000);

  let gpu: ChildProcess | undefined;
  const gpuPort = o.gpuUrl ? 0 : (o.gpuPort ?? (await freePort(host)));
  const gpuUrl = o.gpuUrl ?? `http://${host}:${gpuPort}`;
  // The Worker's plugins (gmcnn.config.ts) with these settings, checked before anything starts.
  await checkEdgePlugins({ GPU_URL: gpuUrl, ...o.vars }).catch((e: Error) => {
    throw new Error(`plugin configuration: ${e.message}`);
  });
  if (!o.gpuUrl) {
    gpu = launch(
      "gpu",
      ["--import", "tsx", "gpu-jobs/server/main.ts"],
      { ...process.env, PORT: String(gpuPort), HOST: host, ...o.gpuEnv },
      log,
    );
  }

  // The accounts database (migrations/) must be current before the Worker serves a request.
  await migrateLocalDb(persistTo, log);
  // The demo page, the widget, the in-page model and /docs' Swagger UI: static assets beside the API.
  const assets = o.web === false ? undefined : await buildWeb();
  const vars: Record<string, string> = {
    GPU_URL: gpuUrl,
    API_KEYS: apiKey,
    ADMIN_TOKEN: admin,
    URL_SIGNING_SECRET: savedSecret(process.env.GMCNN_URL_SIGNING_SECRET, URL_SECRET_FILE, "gmcnn_url_"),
    // Local development: webhook receivers and input URLs on http://127.0.0.1 are allowed, and
    // there is no DNS-over-HTTPS to ask (production keeps both guards: wrangler.toml).
    WEBHOOK_ALLOW_LOCAL: "true",
    SSRF_DOH_URL: "",
    // The demo page at / gets its browser tokens from POST /demo/token (local only).
    DEMO_TOKENS: "true",
    ...o.vars,
  };
  const edge = launch(
    "edge",
    [
      WRANGLER,
      "dev",
      "--ip",
      host,
      "--port",
      String(edgePort),
      "--inspector-port",
      String(await freePort(host)),
      "--persist-to",
      persistTo,
      "--show-interactive-dev-session=false",
      ...(assets ? ["--assets", assets] : []),
      ...Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
    ],
    { ...process.env, ...WRANGLER_ENV },
    log,
  );

  let stopping = false;
  const stopGpu = async () => {
    if (gpu) await stopProcess(gpu, 60_000); // SIGTERM: the server finishes in-flight work first
  };
  const stop = async () => {
    stopping = true;
    await Promise.all([stopProcess(edge, 5_000), stopGpu()]);
  };
  const exitOf = (name: "gpu" | "edge", p: ChildProcess) =>
    new Promise<{ name: "gpu" | "edge"; code: number | null }>((r) =>
      p.once("exit", (code) => {
        if (!stopping) r({ name, code });
      }),
    );
  const exited = Promise.race([exitOf("edge", edge), ...(gpu ? [exitOf("gpu", gpu)] : [])]);

  try {
    const edgeUrl = `http://${host}:${edgePort}`;
    const [ready] = await Promise.all([
      gpu
        ? waitFor(`${gpuUrl}/readyz`, "GPU function server", deadline, () => gpu!.exitCode === null)
        : Promise.resolve({ model: null, provider: null }),
      waitFor(`${edgeUrl}/healthz`, "wrangler dev", deadline, () => edge.exitCode === null),
    ]);
    const r = ready as Stack["gpu"];
    return { edgeUrl, gpuUrl, apiKey, adminToken: admin, gpu: { model: r.model, provider: r.provider }, exited, stopGpu, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** The shipped example the quick start inpaints (and the README's curl uses). */
const EXAMPLE = { image: "examples/coffee.png", mask: "examples/coffee-mask.png", out: "out/coffee-inpainted.png" };

/** The main job: the example through the running stack, like the curl line below does it. */
async function inpaintExample(stack: Stack): Promise<string> {
  const form = new FormData();
  form.set("image", new Blob([readFileSync(join(ROOT, EXAMPLE.image))], { type: "image/png" }), "coffee.png");
  form.set("mask", new Blob([readFileSync(join(ROOT, EXAMPLE.mask))], { type: "image/png" }), "coffee-mask.png");
  const t = Date.now();
  const r = await fetch(`${stack.edgeUrl}/v1/inpaint`, {
    method: "POST",
    headers: { authorization: `Bearer ${stack.apiKey}` },
    body: form,
  });
  if (!r.ok) throw new Error(`the example request failed: HTTP ${r.status} ${await r.text()}`);
  mkdirSync(join(ROOT, "out"), { recursive: true });
  writeFileSync(join(ROOT, EXAMPLE.out), new Uint8Array(await r.arrayBuffer()));
  return `${EXAMPLE.out} (${r.headers.get("content-type")}, ${Date.now() - t} ms, request ${r.headers.get("x-request-id")})`;
}

/**
 * A metered API key for the quick start (the dev key is unmetered: GET /v1/usage answers it 403).
 * The one saved in `file` while the database still knows it, else a new account with 100 credits.
 */
export async function meteredKey(stack: Pick<Stack, "edgeUrl" | "adminToken">, file: string): Promise<string> {
  if (existsSync(file)) {
    const saved = readFileSync(file, "utf8").trim();
    const r = await fetch(`${stack.edgeUrl}/v1/usage?limit=1`, { headers: { authorization: `Bearer ${saved}` } });
    await r.body?.cancel();
    if (r.ok) return saved;
  }
  const r = await fetch(`${stack.edgeUrl}/v1/admin/accounts`, {
    method: "POST",
    headers: { authorization: `Bearer ${stack.adminToken}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "quickstart", credits: 100 }),
  });
  if (r.status !== 201) throw new Error(`creating the quick start's account failed: HTTP ${r.status} ${await r.text()}`);
  const { api_key } = (await r.json()) as { api_key: string };
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${api_key}\n`, { mode: 0o600 });
  return api_key;
}

async function main(): Promise<void> {
  const env = process.env;
  const port = (k: string, d: number) => (env[k] ? Number(env[k]) : d);
  const persistTo = defaultStateDir();
  console.log("starting the GPU function server and wrangler dev ...");
  const stack = await startStack({
    host: env.GMCNN_HOST || "127.0.0.1",
    edgePort: port("GMCNN_EDGE_PORT", 8787),
    gpuPort: port("GMCNN_GPU_PORT", 8788),
    gpuUrl: env.GMCNN_GPU_URL || undefined,
    persistTo,
  });
  console.log(`inpainting ${EXAMPLE.image} through the stack ...`);
  console.log(`wrote ${await inpaintExample(stack)}`);
  const metered = await meteredKey(stack, join(persistTo, "metered-api-key"));
  if (process.argv.includes("--once")) {
    await stack.stop();
    return;
  }
  const model = stack.gpu.model ? `${stack.gpu.model.name}@${stack.gpu.model.version} on ${stack.gpu.provider}` : "remote";
  console.log(`
gmcnn-edge is running
  demo       ${stack.edgeUrl}/   (paint over something, press Remove)
  edge API   ${stack.edgeUrl}   (docs ${stack.edgeUrl}/docs, OpenAPI ${stack.edgeUrl}/openapi.json)
  GPU        ${stack.gpuUrl}   (${model})
  API key    ${stack.apiKey}   (dev key: unmetered, no credits; GET /v1/usage answers it 403)
  metered    ${metered}   (an account with credits: GET /v1/usage works; the SDK quick start uses it)
  admin      ${stack.adminToken}   (Authorization: Bearer, /v1/admin/*)

  curl -sS -H "Authorization: Bearer ${stack.apiKey}" \\
    -F image=@${EXAMPLE.image} -F mask=@${EXAMPLE.mask} \\
    ${stack.edgeUrl}/v1/inpaint --create-dirs -o out/inpainted.png

  # an async job; its signed webhook goes to your receiver (http://127.0.0.1 allowed locally):
  curl -sS -H "Authorization: Bearer ${stack.apiKey}" -H "Prefer: wait=30" \\
    -F image=@${EXAMPLE.image} -F mask=@${EXAMPLE.mask} -F webhook=http://127.0.0.1:9000/hook \\
    ${stack.edgeUrl}/v1/jobs

  # the SDK quick start (docs/sdk.md) with the metered key:
  GMCNN_URL=${stack.edgeUrl} GMCNN_API_KEY=${metered} node quickstart.mjs

  # another metered account with 100 credits (its API key is shown once):
  curl -sS -H "Authorization: Bearer ${stack.adminToken}" -H "Content-Type: application/json" \\
    -d '{"name": "me", "credits": 100}' ${stack.edgeUrl}/v1/admin/accounts

Ctrl-C stops both.`);
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    console.log("\nstopping ...");
    await stack.stop();
    process.exit(0);
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);
  const gone = await stack.exited;
  if (stopping) return;
  console.error(
    `\n${gone.name === "gpu" ? "the GPU function server" : "wrangler dev"} exited (${gone.code}); stopping the stack`,
  );
  await stack.stop();
  process.exit(1);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(`npm start failed: ${(e as Error).message}`);
    process.exit(1);
  });
}
