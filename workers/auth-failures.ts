/**
 * Failed authentication is not free. A refused API key, browser token or admin token is counted
 * per client address (CF-Connecting-IP, which Cloudflare sets) and, for an API key of the
 * customer form, per key prefix (the part the lookup indexes), in RateLimiter Durable Objects
 * (AUTH_FAILURE_LIMIT per RATE_LIMIT_WINDOW_S, the window opening at the first failure). Past the limit the refusal is 429 rate-limited
 * with Retry-After and the RateLimit headers, and this isolate refuses that address or prefix
 * before checking any credential from it (no D1 lookup, no hash) until the window ends. A
 * request without a credential is not counted: it costs nothing to refuse.
 */
import type { Context } from "hono";
import { Problem } from "../shared/problems.ts";
import type { AppEnv } from "./app-env.ts";
import { KEY_PATTERN, KEY_PREFIX_LENGTH } from "./billing/accounts.ts";
import type { RateDecision } from "./ratelimit.ts";

const positiveInt = (raw: string | undefined, fallback: number) => {
  const n = Number(raw);
  return Number.isInteger(n) && n > 0 ? n : fallback;
};

export const authFailureSettings = (env: AppEnv["Bindings"]) => ({
  limit: positiveInt(env.AUTH_FAILURE_LIMIT, 20),
  windowS: positiveInt(env.RATE_LIMIT_WINDOW_S, 60),
});

/** What a credential was presented for: API routes (keys and browser tokens) or the admin API. */
export type AuthKind = "key" | "admin";

/** The counters a failure of `presented` counts in. */
function buckets(c: Context<AppEnv>, kind: AuthKind, presented: string): string[] {
  const out: string[] = [];
  const ip = c.req.header("cf-connecting-ip")?.trim();
  if (ip) out.push(`auth-failures:${kind}:ip:${ip}`);
  if (kind === "key" && KEY_PATTERN.test(presented))
    out.push(`auth-failures:key:prefix:${presented.slice(0, KEY_PREFIX_LENGTH)}`);
  return out;
}

/** Buckets this isolate has seen spent, until when (ms); bounded, oldest dropped first. */
const spent = new Map<string, number>();
const MAX_SPENT = 10_000;

function tooMany(limit: number, windowS: number, retryS: number): Problem {
  return new Problem(
    "rate-limited",
    `too many failed authentication attempts (${limit} per ${windowS} s from this address or for this key); try again in ${retryS} s`,
    { limit, window_s: windowS },
    retryS,
  );
}

function setHeaders(c: Context<AppEnv>, limit: number, windowS: number, remaining: number, resetS: number): void {
  c.header("RateLimit-Policy", `"auth-failures";q=${limit};w=${windowS}`);
  c.header("RateLimit", `"auth-failures";r=${remaining};t=${resetS}`);
}

/** Before a credential is checked: 429 when this isolate knows its address or prefix is spent. */
export function refuseIfSpent(c: Context<AppEnv>, kind: AuthKind, presented: string): void {
  const now = Date.now();
  for (const b of buckets(c, kind, presented)) {
    const until = spent.get(b);
    if (until === undefined) continue;
    if (until <= now) {
      spent.delete(b);
      continue;
    }
    const { limit, windowS } = authFailureSettings(c.env);
    const retryS = Math.max(1, Math.ceil((until - now) / 1000));
    setHeaders(c, limit, windowS, 0, retryS);
    throw tooMany(limit, windowS, retryS);
  }
}

/** After a credential was refused: counts the failure and throws `refusal`, or 429 once a counter is spent. */
export async function refuseAuth(c: Context<AppEnv>, kind: AuthKind, presented: string, refusal: Problem): Promise<never> {
  const { limit, windowS } = authFailureSettings(c.env);
  const names = buckets(c, kind, presented);
  const decisions = await Promise.all(
    names.map(
      async (b) =>
        [
          b,
          (await c.env.RATE_LIMITER.get(c.env.RATE_LIMITER.idFromName(b)).hitFromFirst(limit, windowS)) as RateDecision,
        ] as const,
    ),
  );
  if (decisions.length === 0) throw refusal;
  const tightest = decisions.reduce((a, b) => (b[1].remaining < a[1].remaining || !b[1].allowed ? b : a));
  const d = tightest[1];
  setHeaders(c, limit, windowS, d.remaining, d.resetS);
  const over = decisions.filter(([, x]) => !x.allowed);
  if (over.length === 0) throw refusal;
  for (const [b, x] of over) {
    if (spent.size >= MAX_SPENT) spent.delete(spent.keys().next().value as string);
    spent.set(b, Date.now() + x.resetS * 1000);
  }
  throw tooMany(limit, windowS, Math.max(...over.map(([, x]) => x.resetS)));
}
