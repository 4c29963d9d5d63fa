/**
 * The Worker's bindings: vars from wrangler.toml (typed by `wrangler types` into
 * worker-configuration.d.ts) plus the secrets, which wrangler cannot see and which are optional
 * until a deployment sets them.
 */
import { DEFAULT_UPLOAD_LIMITS } from "../shared/schemas/limits.ts";

export interface Bindings extends Env {
  /** Comma-separated unmetered dev API keys (`Authorization: Bearer <key>`); customers' keys are in D1. */
  API_KEYS?: string;
  /** Bearer token of the admin API (/v1/admin/*). */
  ADMIN_TOKEN?: string;
  /** Shared secret the GPU function checks (direct deployments). */
  GPU_SECRET?: string;
  /** Modal proxy auth (`requires_proxy_auth=True`). */
  MODAL_KEY?: string;
  MODAL_SECRET?: string;
  /** Signs job result URLs (workers/jobs/view.ts); unset: result URLs need the owner's API key. */
  URL_SIGNING_SECRET?: string;
  /** "true" opens POST /demo/token (the local demo page's token source; `npm start` sets it). */
  DEMO_TOKENS?: string;
  /**
   * Seconds an incoming event's signed content is remembered (default 604800, 7 days): a replay
   * of it, under any delivery id, is refused within this window (workers/routes/hooks.ts).
   */
  HOOK_REPLAY_RETENTION_S?: string;
}

/** HOOK_REPLAY_RETENTION_S in milliseconds. */
export const hookReplayRetentionMs = (env: Partial<Bindings>): number => {
  const n = Number(env.HOOK_REPLAY_RETENTION_S);
  return (env.HOOK_REPLAY_RETENTION_S && Number.isFinite(n) && n > 0 ? n : 7 * 86400) * 1000;
};

export interface UploadLimits {
  maxUploadBytes: number;
  maxMegapixels: number;
  maxSide: number;
}

const positive = (raw: string | undefined, fallback: number) => {
  const n = Number(raw);
  return raw && Number.isFinite(n) && n > 0 ? n : fallback;
};

export const uploadLimits = (env: Partial<Bindings>): UploadLimits => ({
  maxUploadBytes: positive(env.MAX_UPLOAD_BYTES, DEFAULT_UPLOAD_LIMITS.maxUploadBytes),
  maxMegapixels: positive(env.MAX_MEGAPIXELS, DEFAULT_UPLOAD_LIMITS.maxMegapixels),
  maxSide: positive(env.MAX_SIDE, DEFAULT_UPLOAD_LIMITS.maxSide),
});

/** Largest share of the image a (prepared) mask may cover. */
export const maxMaskRatio = (env: Partial<Bindings>): number => Math.min(1, positive(env.MAX_MASK_RATIO, 0.6));

/** Retention of cached results, seconds. */
export const resultTtlSeconds = (env: Partial<Bindings>): number => positive(env.RESULT_TTL_S, 7 * 86400);

/** How long the served model's version is trusted, seconds. */
export const modelInfoTtlSeconds = (env: Partial<Bindings>): number => positive(env.MODEL_INFO_TTL_S, 10);
