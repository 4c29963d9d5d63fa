/**
 * The Worker's bindings: vars from wrangler.toml (typed by `wrangler types` into
 * worker-configuration.d.ts) plus the secrets, which wrangler cannot see and which are optional
 * until a deployment sets them.
 */
export interface Bindings extends Env {
  /** Comma-separated API keys (`Authorization: Bearer <key>`). */
  API_KEYS?: string;
  /** Shared secret the GPU function checks (direct deployments). */
  GPU_SECRET?: string;
  /** Modal proxy auth (`requires_proxy_auth=True`). */
  MODAL_KEY?: string;
  MODAL_SECRET?: string;
}

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
  maxUploadBytes: positive(env.MAX_UPLOAD_BYTES, 20 * 1024 * 1024),
  maxMegapixels: positive(env.MAX_MEGAPIXELS, 6),
  maxSide: positive(env.MAX_SIDE, 12000),
});
