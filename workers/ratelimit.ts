/**
 * Per-key rate limits: one Durable Object per API key counts requests in fixed windows
 * (RATE_LIMIT_WINDOW_S seconds, RATE_LIMIT_REQUESTS or the account's own limit). Every
 * authenticated response carries the IETF draft headers `RateLimit-Policy` and `RateLimit`;
 * a request over the limit gets 429 with Retry-After. A fixed window is one counter and one
 * timestamp, exact, and cheap; its burst at a window edge (2x for a moment) is acceptable here.
 */
import { DurableObject } from "cloudflare:workers";
import type { Context } from "hono";
import { Problem } from "../shared/problems.ts";
import type { AppEnv } from "./app-env.ts";
import type { Bindings } from "./env.ts";

export interface RateDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until the window resets. */
  resetS: number;
  windowS: number;
}

export class RateLimiter extends DurableObject {
  /** Counts a request in the current window (SQLite-backed storage: survives eviction). */
  hit(limit: number, windowS: number): RateDecision {
    const kv = this.ctx.storage.kv;
    const now = Date.now();
    const windowMs = windowS * 1000;
    const start = Math.floor(now / windowMs) * windowMs;
    const count = kv.get<number>("start") === start ? (kv.get<number>("count") ?? 0) : 0;
    const allowed = count < limit;
    if (allowed) {
      kv.put("start", start);
      kv.put("count", count + 1);
    }
    return decision(allowed, count, limit, start + windowMs - now, windowS);
  }

  /**
   * Like `hit`, but the window opens at the first event it counts (not on a clock boundary), so
   * a burst is never split in two by a window edge: what failed authentication is counted with
   * (workers/auth-failures.ts; a counter is used for one or the other, never both).
   */
  hitFromFirst(limit: number, windowS: number): RateDecision {
    const kv = this.ctx.storage.kv;
    const now = Date.now();
    const windowMs = windowS * 1000;
    const opened = kv.get<number>("opened");
    const fresh = opened === undefined || now >= opened + windowMs;
    const start = fresh ? now : opened;
    const count = fresh ? 0 : (kv.get<number>("count") ?? 0);
    const allowed = count < limit;
    if (allowed) {
      kv.put("opened", start);
      kv.put("count", count + 1);
    }
    return decision(allowed, count, limit, start + windowMs - now, windowS);
  }
}

const positiveInt = (raw: string | undefined, fallback: number) => {
  const n = Number(raw);
  return Number.isInteger(n) && n > 0 ? n : fallback;
};

export const rateLimitSettings = (env: Partial<Bindings>, accountLimit?: number | null) => ({
  limit: accountLimit ?? positiveInt(env.RATE_LIMIT_REQUESTS, 120),
  windowS: positiveInt(env.RATE_LIMIT_WINDOW_S, 60),
});

/** Counts the request for `keyId`; sets the headers on whatever response follows; 429 when over. */
export async function enforceRateLimit(c: Context<AppEnv>, keyId: string, accountLimit?: number | null): Promise<void> {
  const { limit, windowS } = rateLimitSettings(c.env, accountLimit);
  const stub = c.env.RATE_LIMITER.get(c.env.RATE_LIMITER.idFromName(keyId));
  const d = (await stub.hit(limit, windowS)) as RateDecision;
  // Set on the context, so the success and the problem responses (onError) both carry them.
  c.header("RateLimit-Policy", `"default";q=${d.limit};w=${d.windowS}`);
  c.header("RateLimit", `"default";r=${d.remaining};t=${d.resetS}`);
  if (!d.allowed)
    throw new Problem(
      "rate-limited",
      `this key may make ${d.limit} requests per ${d.windowS} s; try again in ${d.resetS} s`,
      { limit: d.limit, window_s: d.windowS },
      d.resetS,
    );
}

/** The answer of a window that has `count` events before this one and ends in `leftMs`. */
function decision(allowed: boolean, count: number, limit: number, leftMs: number, windowS: number): RateDecision {
  const used = allowed ? count + 1 : count;
  return { allowed, limit, remaining: Math.max(0, limit - used), resetS: Math.max(1, Math.ceil(leftMs / 1000)), windowS };
}
