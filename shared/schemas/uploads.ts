import { z } from "zod";

/** An upload's id: the SHA-256 of its bytes, lowercase hex (same bytes, same id). */
export const UploadId = z.string().regex(/^[0-9a-f]{64}$/, "an upload id is 64 lowercase hex digits (its SHA-256)");

/** Answer of POST /v1/uploads. */
export const UploadInfo = z.object({
  id: UploadId,
  sha256: UploadId,
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  bytes: z.number().int().positive(),
});

export type UploadInfo = z.infer<typeof UploadInfo>;

/** Values of the X-Cache response header of POST /v1/inpaint. */
export const CacheStatus = z.enum(["HIT", "MISS", "BYPASS"]);
export type CacheStatus = z.infer<typeof CacheStatus>;
