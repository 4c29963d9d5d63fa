/** The GPU function server's settings, all from the environment (Modal and `npm start` set them). */

export interface ServerConfig {
  port: number;
  host: string;
  /** Shared secret for `Authorization: Bearer`; unset = no auth (local, or behind Modal's proxy auth). */
  secret?: string;
  /** `name` or `name@version`; default: the newest shipped manifest. */
  model?: string;
  modelsDir?: string;
  threads?: number;
  concurrency: number;
  maxWaiting: number;
  /** Per request, queue wait + inference; below Modal's 150 s web-endpoint cut-off. */
  timeoutMs: number;
  /** How long SIGTERM waits for in-flight work before giving up. */
  drainTimeoutMs: number;
  /** One JSON line per request on stdout. */
  log: boolean;
  /**
   * Open the port only once the model is loaded (Modal: it holds requests until the port opens).
   * Default: listen first, so health probes answer during the load and /readyz tells the two apart.
   */
  listenAfterLoad: boolean;
}

function int(env: NodeJS.ProcessEnv, key: string, fallback: number, min = 0): number {
  const raw = env[key];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${key}=${raw}: expected an integer >= ${min}`);
  return n;
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const threads = int(env, "GMCNN_THREADS", 0);
  return {
    port: int(env, "PORT", 8788),
    host: env.HOST || "127.0.0.1",
    secret: env.GMCNN_GPU_SECRET || undefined,
    model: env.GMCNN_MODEL || undefined,
    modelsDir: env.GMCNN_MODELS_DIR || undefined,
    threads: threads > 0 ? threads : undefined,
    concurrency: int(env, "GMCNN_QUEUE_CONCURRENCY", 1, 1),
    maxWaiting: int(env, "GMCNN_QUEUE_MAX_WAITING", 8),
    timeoutMs: int(env, "GMCNN_TIMEOUT_MS", 120_000, 1),
    drainTimeoutMs: int(env, "GMCNN_DRAIN_TIMEOUT_MS", 60_000, 0),
    log: env.GMCNN_LOG !== "0",
    listenAfterLoad: env.GMCNN_LISTEN_AFTER_LOAD === "1",
  };
}
