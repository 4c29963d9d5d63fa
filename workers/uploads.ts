/**
 * Uploads, one set per owner (an account, or an unmetered dev key): R2 `uploads/<owner>/<sha256>`.
 * The same bytes from the same owner get the same id and are stored once; another owner's upload
 * of those bytes is theirs alone, and an id that is not the caller's answers the same 404 as one
 * that never existed, so no owner can learn what another has stored. Dimensions and format are
 * kept as custom metadata from the header.
 */
import { Problem } from "../shared/problems.ts";
import type { UploadInfo } from "../shared/schemas/uploads.ts";
import { sha256Hex } from "./cache.ts";
import { checkDimensions, EDGE_FORMATS, type EdgeFormat, type ImageHeader, inspectAndDecode, MIME } from "./codecs.ts";
import type { Bindings } from "./env.ts";
import { uploadLimits } from "./env.ts";

const PREFIX = "uploads/";

/** The R2 key of `owner`'s upload `id` (jobs store it as their image's key). */
export const uploadKey = (owner: string, id: string): string => `${PREFIX}${encodeURIComponent(owner)}/${id}`;

/** The upload id of a key made by uploadKey, or undefined when `key` is not an upload's. */
export function uploadIdOfKey(key: string): string | undefined {
  if (!key.startsWith(PREFIX)) return undefined;
  return key.slice(key.lastIndexOf("/") + 1);
}

const notFound = (id: string) =>
  new Problem("upload-not-found", `no upload with id ${id} in this account (POST /v1/uploads first)`, { image_id: id });

/** Stores `bytes` for `owner` unless they already hold the same bytes; `created` says which. */
export async function saveUpload(
  env: Bindings,
  owner: string,
  bytes: Uint8Array,
): Promise<{ info: UploadInfo; created: boolean }> {
  const h = await inspectAndDecode(bytes, "image", uploadLimits(env), EDGE_FORMATS);
  const id = await sha256Hex(bytes);
  const info: UploadInfo = { id, sha256: id, width: h.width, height: h.height, bytes: bytes.length };
  const key = uploadKey(owner, id);
  if (await env.BLOBS.head(key)) return { info, created: false };
  await env.BLOBS.put(key, bytes, {
    httpMetadata: { contentType: MIME[h.format] },
    customMetadata: { width: String(h.width), height: String(h.height), format: h.format },
    sha256: id, // R2 checks the bytes against it
  });
  return { info, created: true };
}

/** The bytes of `owner`'s upload `id`; 404 upload-not-found. */
export async function loadUpload(env: Bindings, owner: string, id: string): Promise<Uint8Array> {
  const obj = await env.BLOBS.get(uploadKey(owner, id));
  if (!obj) throw notFound(id);
  return new Uint8Array(await obj.arrayBuffer());
}

/**
 * Format and size of `owner`'s upload `id` from its R2 metadata (checked when it was stored),
 * against today's limits: a cache hit by id never reads the image bytes. 404 upload-not-found.
 */
export async function uploadHeader(env: Bindings, owner: string, id: string): Promise<ImageHeader & { format: EdgeFormat }> {
  const head = await env.BLOBS.head(uploadKey(owner, id));
  const m = head?.customMetadata;
  if (!head || !m) throw notFound(id);
  const h = { format: m.format as EdgeFormat, width: Number(m.width), height: Number(m.height) };
  checkDimensions(h, "image", uploadLimits(env));
  return h;
}

/** How long a deletion's claim is kept (it only matters while concurrent DELETEs overlap). */
const DELETION_CLAIM_MS = 86_400_000;

/**
 * Deletes `owner`'s upload `id`; 404 upload-not-found when they hold none. Atomic: the stored
 * version is claimed in D1 first (R2 has no conditional delete), so of concurrent DELETEs one
 * answers 204 and the others 404, as if they had come after it.
 */
export async function deleteUpload(env: Bindings, owner: string, id: string): Promise<void> {
  const key = uploadKey(owner, id);
  const head = await env.BLOBS.head(key);
  if (!head) throw notFound(id);
  const now = Date.now();
  const [, claim] = await env.DB.batch([
    env.DB.prepare("DELETE FROM upload_deletions WHERE deleted_at < ?").bind(now - DELETION_CLAIM_MS),
    env.DB.prepare("INSERT INTO upload_deletions (key, version, deleted_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING").bind(
      key,
      head.version,
      now,
    ),
  ]);
  if (claim.meta.changes !== 1) throw notFound(id);
  try {
    await env.BLOBS.delete(key);
  } catch (e) {
    // Not deleted after all: give the claim back, so a retry can succeed.
    await env.DB.prepare("DELETE FROM upload_deletions WHERE key = ? AND version = ?").bind(key, head.version).run();
    throw e;
  }
}
