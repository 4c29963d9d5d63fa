/**
 * Result cache, one per account. The key is a SHA-256 over the owner (an account, or a dev key)
 * and the exact inputs: the image bytes' hash, the normalised mask's hash, the model's
 * name@version and the canonical JSON of the options (defaults filled in, keys sorted) with the
 * output format resolved. Keyed by owner, a hit, a 304 and the hit price tell a customer only
 * about their own earlier calls, never that someone else sent the same image and mask. The bytes live in
 * R2 (`results/<key>`, the durable copy) with the Workers Cache API in front (per data centre,
 * fast); a Cache API miss that R2 answers is copied back into the Cache API.
 */
import type { CacheStatus } from "../shared/schemas/uploads.ts";
import type { Bindings } from "./env.ts";
import { resultTtlSeconds } from "./env.ts";

export type { CacheStatus };

const enc = new TextEncoder();

export async function sha256Hex(data: ArrayBuffer | ArrayBufferView | string): Promise<string> {
  const bytes = typeof data === "string" ? enc.encode(data) : data;
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as BufferSource));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** JSON with object keys sorted at every level and undefined members dropped. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (v && typeof v === "object")
    return `{${Object.keys(v)
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  return JSON.stringify(v);
}

export interface KeyParts {
  /** Whose cache: the account id, or the dev key's id (workers/auth.ts ownerOf). */
  account: string;
  /** SHA-256 of the image bytes (= the upload id). */
  image: string;
  /** SHA-256 of the normalised mask (see routes/inpaint.ts). */
  mask: string;
  /** name@version of the model. */
  model: string;
  options: Record<string, unknown>;
  format: string;
}

/** Bumped when what a key means changes (pipeline semantics), so old entries stop matching. */
const KEY_VERSION = 2; // 2: keyed per account

export const cacheKey = (p: KeyParts): Promise<string> => sha256Hex(canonicalJson({ v: KEY_VERSION, ...p }));

export const etagOf = (key: string): string => `"${key}"`;

/** The If-None-Match header lists this ETag (`*` is not a tag: see notModified). */
export function matchesEtag(header: string | null | undefined, key: string): boolean {
  if (!header) return false;
  const tag = etagOf(key);
  return header.split(",").some((t) => {
    const v = t.trim();
    return v === tag || v === `W/${tag}`;
  });
}

/**
 * Whether If-None-Match makes the answer a 304: it lists this key's ETag, or it is `*` and a
 * result is stored under the key (RFC 9110 13.1.2: `*` matches a current representation only;
 * with nothing stored, the call runs).
 */
export async function notModified(env: Bindings, header: string | null | undefined, key: string): Promise<boolean> {
  if (matchesEtag(header, key)) return true;
  if (!header?.split(",").some((t) => t.trim() === "*")) return false;
  if (await caches.default.match(cacheRequest(key))) return true;
  const head = await env.BLOBS.head(r2Key(key));
  return head !== null && head.uploaded.getTime() + resultTtlSeconds(env) * 1000 >= Date.now();
}

export interface CachedResult {
  body: ReadableStream | ArrayBuffer;
  contentType: string;
  model: string;
  regions: string;
}

const cacheRequest = (key: string) => new Request(`https://results.gmcnn-edge.internal/${key}`);
const r2Key = (key: string) => `results/${key}`;

function toCacheResponse(body: BodyInit, r: Omit<CachedResult, "body">, key: string, ttl: number): Response {
  return new Response(body, {
    headers: {
      "Content-Type": r.contentType,
      "Cache-Control": `public, max-age=${ttl}`,
      ETag: etagOf(key),
      "X-Model": r.model,
      "X-Inpaint-Regions": r.regions,
    },
  });
}

/** The cached result for `key`, from the Cache API, else from R2 (copied back into the Cache API). */
export async function lookupResult(env: Bindings, key: string): Promise<CachedResult | null> {
  const hit = await caches.default.match(cacheRequest(key));
  if (hit?.body)
    return {
      body: hit.body,
      contentType: hit.headers.get("content-type") ?? "application/octet-stream",
      model: hit.headers.get("x-model") ?? "",
      regions: hit.headers.get("x-inpaint-regions") ?? "",
    };
  const obj = await env.BLOBS.get(r2Key(key));
  if (!obj) return null;
  const ttl = resultTtlSeconds(env);
  if (obj.uploaded.getTime() + ttl * 1000 < Date.now()) {
    // Past retention: the bucket's lifecycle rule may not have run yet.
    await obj.body.cancel();
    await env.BLOBS.delete(r2Key(key));
    return null;
  }
  const bytes = await obj.arrayBuffer();
  const meta = {
    contentType: obj.httpMetadata?.contentType ?? "application/octet-stream",
    model: obj.customMetadata?.model ?? "",
    regions: obj.customMetadata?.regions ?? "",
  };
  const left = Math.max(1, Math.floor((obj.uploaded.getTime() + ttl * 1000 - Date.now()) / 1000));
  await caches.default.put(cacheRequest(key), toCacheResponse(bytes, meta, key, left));
  return { body: bytes, ...meta };
}

/** Stores a result in R2 and the Cache API (awaited: coalesced followers read it right after). */
export async function storeResult(env: Bindings, key: string, bytes: Uint8Array, r: Omit<CachedResult, "body">): Promise<void> {
  const ttl = resultTtlSeconds(env);
  await env.BLOBS.put(r2Key(key), bytes, {
    httpMetadata: { contentType: r.contentType },
    customMetadata: { model: r.model, regions: r.regions },
  });
  await caches.default.put(cacheRequest(key), toCacheResponse(bytes.slice(), r, key, ttl));
}
