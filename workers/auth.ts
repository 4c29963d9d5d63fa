/**
 * API keys: `Authorization: Bearer <key>`, checked against the API_KEYS secret (comma-separated)
 * until accounts exist. Compared as SHA-256 digests in constant time, so neither the length nor
 * a prefix of a key leaks through timing. No keys configured = every request refused.
 */
import type { MiddlewareHandler } from "hono";
import { Problem } from "../shared/problems.ts";
import type { Bindings } from "./env.ts";

const enc = new TextEncoder();
const sha256 = async (s: string) => crypto.subtle.digest("SHA-256", enc.encode(s));

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

export const requireApiKey = (): MiddlewareHandler<{ Bindings: Bindings }> => async (c, next) => {
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(c.req.header("authorization") ?? "");
  if (!m) throw new Problem("unauthorized", "send your API key as `Authorization: Bearer <key>`");
  const keys = configuredKeys(c.env.API_KEYS);
  if (keys.length === 0) throw new Problem("unauthorized", "this deployment has no API keys configured (secret API_KEYS)");
  if (!(await keyMatches(m[1], keys))) throw new Problem("unauthorized", "the API key is not valid");
  await next();
};
