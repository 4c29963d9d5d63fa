/**
 * API keys: `Authorization: Bearer <key>`. Customer keys live in D1 (workers/billing/accounts.ts:
 * prefix lookup + constant-time SHA-256 comparison) and are metered. The optional API_KEYS
 * secret (comma-separated) holds unmetered dev keys: no account, no credits, still rate-limited;
 * they are compared as SHA-256 digests in constant time. Every accepted request is counted
 * against its key's rate limit (workers/ratelimit.ts), every refused one against its client
 * address and key prefix (workers/auth-failures.ts).
 */
import type { MiddlewareHandler } from "hono";
import { Problem } from "../shared/problems.ts";
import type { AppEnv } from "./app-env.ts";
import { refuseAuth, refuseIfSpent } from "./auth-failures.ts";
import { findKey } from "./billing/accounts.ts";
import { isBrowserToken, tokenCaller } from "./browser-tokens.ts";
import { sha256Hex } from "./cache.ts";
import { enforceRateLimit } from "./ratelimit.ts";

const enc = new TextEncoder();
const sha256 = async (s: string) => crypto.subtle.digest("SHA-256", enc.encode(s));

/** Who is calling: a metered account key, or an unmetered dev key (no accountId). */
export interface Caller {
  /** Names the key in rate limiting: the D1 key id, or `dev:` + a digest of the dev key. */
  keyId: string;
  accountId?: string;
}

/** Whose jobs, webhook secret and results: the account, or the dev key itself. */
export const ownerOf = (caller: Caller): string => caller.accountId ?? caller.keyId;

export const configuredKeys = (raw: string | undefined): string[] =>
  (raw ?? "")
    .split(",")
    .map((k) => k.trim())
    .filter(Boolean);

export async function keyMatches(presented: string, keys: readonly string[]): Promise<boolean> {
  const p = await sha256(presented);
  let ok = false;
  for (const k of keys) ok = crypto.subtle.timingSafeEqual(p, await sha256(k)) || ok; // no early exit
  return ok;
}

export const bearerToken = (header: string | undefined): string | undefined =>
  /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? "")?.[1];

export const requireApiKey = (): MiddlewareHandler<AppEnv> => async (c, next) => {
  const presented = bearerToken(c.req.header("authorization"));
  if (!presented) throw new Problem("unauthorized", "send your API key as `Authorization: Bearer <key>`");
  // Failed attempts are counted and limited (workers/auth-failures.ts), before the lookup.
  refuseIfSpent(c, "key", presented);
  if (isBrowserToken(presented)) {
    // A short-lived browser token (POST /v1/tokens) acts for its key, on its scopes' routes only.
    let t: Awaited<ReturnType<typeof tokenCaller>>;
    try {
      t = await tokenCaller(c, presented, configuredKeys(c.env.API_KEYS));
    } catch (e) {
      if (e instanceof Problem && e.kind === "unauthorized") return refuseAuth(c, "key", presented, e);
      throw e;
    }
    c.set("caller", t.caller);
    await enforceRateLimit(c, t.caller.keyId, t.rateLimit);
    return next();
  }
  const owner = await findKey(c.env.DB, presented);
  let caller: Caller;
  if (owner) caller = { keyId: owner.keyId, accountId: owner.accountId };
  else if (await keyMatches(presented, configuredKeys(c.env.API_KEYS)))
    caller = { keyId: `dev:${(await sha256Hex(presented)).slice(0, 16)}` };
  else return refuseAuth(c, "key", presented, new Problem("unauthorized", "the API key is not valid (or has been revoked)"));
  c.set("caller", caller);
  await enforceRateLimit(c, caller.keyId, owner?.rateLimit);
  await next();
};
