/**
 * Browser tokens: an integrator's server mints one with its API key (POST /v1/tokens) and hands it
 * to a page, which calls the API with it instead of the key. A token is `gmt_` + 48 hex digits;
 * D1 keeps only its SHA-256. It acts for the key that minted it (same account, same credits, same
 * rate limit), only on the routes of its scopes, only until it expires, and only while that key
 * is live. Pages call from other origins, so /v1 answers CORS (bearer auth, no cookies: `*` is safe).
 */
import type { Context, MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import { Problem } from "../shared/problems.ts";
import type { BrowserToken, CreateToken, TokenScope } from "../shared/schemas/tokens.ts";
import type { AppEnv } from "./app-env.ts";
import type { Caller } from "./auth.ts";
import { sha256Hex } from "./cache.ts";
import type { Bindings } from "./env.ts";

const TOKEN_PATTERN = /^gmt_[0-9a-f]{48}$/;
export const isBrowserToken = (presented: string): boolean => presented.startsWith("gmt_");

/** The routes (method + Hono path) each scope opens. GET /v1/plugins is open to every token. */
export const SCOPE_ROUTES: Record<TokenScope, readonly string[]> = {
  inpaint: ["POST /v1/inpaint"],
  uploads: ["POST /v1/uploads", "DELETE /v1/uploads/:id"],
  jobs: ["POST /v1/jobs", "GET /v1/jobs/:id", "POST /v1/jobs/:id/cancel", "GET /v1/jobs/:id/result"],
};
const EVERY_TOKEN = ["GET /v1/plugins"];

export const tokenAllows = (scopes: readonly TokenScope[], route: string): boolean =>
  EVERY_TOKEN.includes(route) || scopes.some((s) => SCOPE_ROUTES[s].includes(route));

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

/** Mints a token for `caller` (an API key, never another token: POST /v1/tokens is in no scope). */
export async function mintToken(
  env: Bindings,
  caller: Caller,
  req: Required<Omit<CreateToken, "origin">> & { origin?: string },
): Promise<BrowserToken> {
  const token = `gmt_${hex(crypto.getRandomValues(new Uint8Array(24)))}`;
  const id = `tok_${hex(crypto.getRandomValues(new Uint8Array(8)))}`;
  const now = Date.now();
  const expires = now + req.ttl_seconds * 1000;
  // Expired rows are useless: each mint clears a few, so the table stays the size of live tokens.
  await env.DB.batch([
    env.DB.prepare("DELETE FROM browser_tokens WHERE id IN (SELECT id FROM browser_tokens WHERE expires_at < ? LIMIT 50)").bind(
      now,
    ),
    env.DB.prepare(
      "INSERT INTO browser_tokens (id, hash, key_id, account_id, scopes, origin, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    ).bind(
      id,
      await sha256Hex(token),
      caller.keyId,
      caller.accountId ?? null,
      req.scopes.join(","),
      req.origin ?? null,
      now,
      expires,
    ),
  ]);
  return { token, id, scopes: req.scopes, origin: req.origin ?? null, expires_at: new Date(expires).toISOString() };
}

interface TokenRow {
  key_id: string;
  account_id: string | null;
  scopes: string;
  origin: string | null;
  expires_at: number;
  key_live: number;
  rate_limit: number | null;
}

/** Is the dev key behind `keyId` (`dev:` + the first 16 hex of its SHA-256) still configured? */
async function devKeyLive(keyId: string, configured: readonly string[]): Promise<boolean> {
  for (const k of configured) if (`dev:${(await sha256Hex(k)).slice(0, 16)}` === keyId) return true;
  return false;
}

/**
 * The caller a token stands for, on this route; throws 401 for an unknown, expired or orphaned
 * token and 403 for a route outside its scopes or a foreign Origin.
 */
export async function tokenCaller(
  c: Context<AppEnv>,
  presented: string,
  devKeys: readonly string[],
): Promise<{ caller: Caller; rateLimit: number | null }> {
  const row = TOKEN_PATTERN.test(presented)
    ? await c.env.DB.prepare(
        `SELECT t.key_id, t.account_id, t.scopes, t.origin, t.expires_at, a.rate_limit,
                (k.id IS NOT NULL AND k.revoked_at IS NULL) AS key_live
         FROM browser_tokens t LEFT JOIN api_keys k ON k.id = t.key_id LEFT JOIN accounts a ON a.id = t.account_id
         WHERE t.hash = ?`,
      )
        .bind(await sha256Hex(presented))
        .first<TokenRow>()
    : null;
  if (!row || row.expires_at <= Date.now())
    throw new Problem("unauthorized", "the browser token is not valid or has expired: ask your server for a new one");
  const live = row.account_id ? row.key_live === 1 : await devKeyLive(row.key_id, devKeys);
  if (!live) throw new Problem("unauthorized", "the API key that minted this browser token has been revoked");
  const route = `${c.req.method} ${c.req.routePath}`;
  const scopes = row.scopes.split(",") as TokenScope[];
  if (!tokenAllows(scopes, route))
    throw new Problem("forbidden", `a browser token with scopes ${scopes.join(", ")} cannot call ${c.req.method} ${c.req.path}`, {
      scopes,
    });
  const origin = c.req.header("origin");
  if (row.origin && origin !== undefined && origin !== row.origin)
    throw new Problem("forbidden", `this browser token is for pages on ${row.origin}, not ${origin}`);
  return { caller: { keyId: row.key_id, ...(row.account_id ? { accountId: row.account_id } : {}) }, rateLimit: row.rate_limit };
}

/** CORS for /v1: any origin may call with a bearer token; the headers a client needs are exposed. */
export const apiCors = (): MiddlewareHandler<AppEnv> =>
  cors({
    origin: "*",
    allowMethods: ["GET", "POST", "DELETE", "OPTIONS"],
    allowHeaders: ["Authorization", "Content-Type", "Idempotency-Key", "Prefer", "Cache-Control", "If-None-Match"],
    exposeHeaders: [
      "X-Request-Id",
      "X-Cache",
      "X-Model",
      "X-Inpaint-Regions",
      "X-Credits-Charged",
      "X-Credits-Remaining",
      "Idempotent-Replayed",
      "RateLimit",
      "RateLimit-Policy",
      "Retry-After",
      "ETag",
      "Location",
      "Server-Timing",
    ],
    maxAge: 600,
  });
