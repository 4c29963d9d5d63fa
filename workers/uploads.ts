/**
 * Uploads in R2 under their SHA-256 (`uploads/<sha256>`): the same bytes always get the same
 * id and are stored once. Dimensions and format are kept as custom metadata from the header.
 */
import { Problem } from "../shared/problems.ts";
import type { UploadInfo } from "../shared/schemas/uploads.ts";
import { sha256Hex } from "./cache.ts";
import { checkDimensions, EDGE_FORMATS, type EdgeFormat, type ImageHeader, inspectUpload, MIME } from "./codecs.ts";
import type { Bindings } from "./env.ts";
import { uploadLimits } from "./env.ts";

const r2Key = (id: string) => `uploads/${id}`;

/** Stores `bytes` unless an upload with the same hash exists; `created` says which. */
export async function saveUpload(env: Bindings, bytes: Uint8Array): Promise<{ info: UploadInfo; created: boolean }> {
  const h = inspectUpload(bytes, "image", uploadLimits(env), EDGE_FORMATS);
  const id = await sha256Hex(bytes);
  const info: UploadInfo = { id, sha256: id, width: h.width, height: h.height, bytes: bytes.length };
  if (await env.BLOBS.head(r2Key(id))) return { info, created: false };
  await env.BLOBS.put(r2Key(id), bytes, {
    httpMetadata: { contentType: MIME[h.format] },
    customMetadata: { width: String(h.width), height: String(h.height), format: h.format },
    sha256: id, // R2 checks the bytes against it
  });
  return { info, created: true };
}

/** The bytes of upload `id`; 404 upload-not-found. */
export async function loadUpload(env: Bindings, id: string): Promise<Uint8Array> {
  const obj = await env.BLOBS.get(r2Key(id));
  if (!obj) throw new Problem("upload-not-found", `no upload with id ${id} (POST /v1/uploads first)`, { image_id: id });
  return new Uint8Array(await obj.arrayBuffer());
}

/**
 * Format and size of upload `id` from its R2 metadata (checked when it was stored), against
 * today's limits: a cache hit by id never reads the image bytes. 404 upload-not-found.
 */
export async function uploadHeader(env: Bindings, id: string): Promise<ImageHeader & { format: EdgeFormat }> {
  const head = await env.BLOBS.head(r2Key(id));
  const m = head?.customMetadata;
  if (!head || !m) throw new Problem("upload-not-found", `no upload with id ${id} (POST /v1/uploads first)`, { image_id: id });
  const h = { format: m.format as EdgeFormat, width: Number(m.width), height: Number(m.height) };
  checkDimensions(h, "image", uploadLimits(env));
  return h;
}
