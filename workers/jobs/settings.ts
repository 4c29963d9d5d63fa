/** Job, webhook and retention settings from wrangler.toml vars (docs/api.md, "Jobs"). */
import type { Bindings } from "../env.ts";

type Vars = Partial<Bindings>;

const seconds = (raw: string | undefined, fallback: number) => {
  const n = Number(raw);
  return raw !== undefined && raw !== "" && Number.isFinite(n) && n >= 0 ? n : fallback;
};

const list = (raw: string | undefined, fallback: number[]) => {
  const v = (raw ?? "")
    .split(",")
    .map((s) => Number(s.trim()))
    .filter((n) => Number.isFinite(n) && n >= 0);
  return v.length ? v : fallback;
};

/** Longest delay a queue message can be given (Cloudflare Queues: 12 hours). */
export const MAX_QUEUE_DELAY_S = 43_200;

/** Published schedule of webhook attempts, seconds after the previous one (the first is now). */
export const DEFAULT_WEBHOOK_SCHEDULE_S = [0, 5, 300, 1800, 7200, 18000, 36000];
/** Backoff before re-running a job after a GPU failure, by failed attempt. */
export const DEFAULT_JOB_RETRY_DELAYS_S = [10, 30, 120, 600];

export interface JobSettings {
  /** Inputs and results are deleted this long after a job is created. */
  retentionMs: number;
  /** Lifetime of a signed result URL. */
  resultUrlTtlS: number;
  retryDelaysS: number[];
  /** A run owns a processing job this long; a redelivery after it may take over. */
  leaseMs: number;
  /** A job still queued after this is sent to the queue again by the cron sweep. */
  staleMs: number;
  webhookScheduleS: number[];
  webhookTimeoutMs: number;
  /** Local development only: webhooks and input URLs may be http://127.0.0.1. */
  allowLocal: boolean;
  /** Longest Prefer: wait. */
  maxWaitS: number;
}

export function jobSettings(env: Vars): JobSettings {
  return {
    retentionMs: seconds(env.JOB_RETENTION_S, 7 * 86400) * 1000,
    resultUrlTtlS: seconds(env.RESULT_URL_TTL_S, 3600),
    retryDelaysS: list(env.JOB_RETRY_DELAYS_S, DEFAULT_JOB_RETRY_DELAYS_S),
    leaseMs: seconds(env.JOB_LEASE_S, 600) * 1000,
    staleMs: seconds(env.JOB_STALE_S, 900) * 1000,
    webhookScheduleS: list(env.WEBHOOK_RETRY_SCHEDULE_S, DEFAULT_WEBHOOK_SCHEDULE_S),
    webhookTimeoutMs: seconds(env.WEBHOOK_TIMEOUT_MS, 15000),
    allowLocal: /^(1|true|yes)$/i.test(env.WEBHOOK_ALLOW_LOCAL ?? ""),
    maxWaitS: 60,
  };
}
