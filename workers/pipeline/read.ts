/**
 * Stage `read`: the image's identity and header, no decode. Bombs, wrong formats and oversized
 * images are refused from the header (24 bytes for a PNG). By upload id the header is the
 * upload's R2 metadata (the caller's own upload, or 404) and the bytes are fetched only when a
 * stage needs them (a cache miss).
 */
import { sha256Hex } from "../cache.ts";
import { EDGE_FORMATS, inspectUpload } from "../codecs.ts";
import { uploadLimits } from "../env.ts";
import { loadUpload, uploadHeader } from "../uploads.ts";
import type { Run } from "./run.ts";

const EMPTY = new Uint8Array(0);

export async function read(run: Run): Promise<undefined> {
  const { env, form } = run;
  // A holder, so the bytes can be let go of once decoded; the form no longer keeps them.
  const upload: { bytes?: Uint8Array } = { bytes: form.image };
  form.image = undefined;
  const id = form.imageId as string;
  const owner = run.ctx.owner;
  // By id, the upload must be the caller's (and not deleted) whatever comes next, a cache hit included.
  const header = upload.bytes
    ? inspectUpload(upload.bytes, "image", uploadLimits(env), EDGE_FORMATS)
    : await uploadHeader(env, owner, id);
  run.image = {
    sha256: form.imageId ?? (await sha256Hex(upload.bytes as Uint8Array)),
    header: async () => header,
    bytes: async () => {
      upload.bytes ??= await loadUpload(env, owner, id);
      return upload.bytes;
    },
    release: () => {
      upload.bytes = EMPTY;
    },
  };
  return undefined;
}
