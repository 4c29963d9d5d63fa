/**
 * Stage `mask`: the request's mask through the mask source that recognises it (the loaded
 * mask-source plugins, in config order: PNG, shapes, COCO RLE, ...), normalised (invert,
 * mask_resize) and hashed for the cache key, still without decoding the image. A cache hit by
 * shapes costs no raster.
 */
import type { MaskInput } from "../../shared/plugins/contract.ts";
import { sha256Hex } from "../cache.ts";
import { uploadLimits } from "../env.ts";
import { edgeCodecs, settingsOf } from "../plugins/index.ts";
import type { Run } from "./run.ts";

/** A mask file's bytes, or an inline mask_shapes document. */
export const maskInputOf = (form: Run["form"]): MaskInput => (form.shapes ? { json: form.shapes } : { bytes: form.mask });

export async function mask(run: Run): Promise<undefined> {
  const { form, env } = run;
  const input = maskInputOf(form);
  const source = run.plugins.maskSourceFor(input);
  const header = await run.image.header();
  const loaded = await source.hooks.load(input, {
    image: { width: header.width, height: header.height },
    options: run.options,
    codecs: edgeCodecs(settingsOf(env)),
    limits: uploadLimits(env),
  });
  form.mask = undefined;
  // The source's name is part of what is hashed: two sources never share a key by accident.
  const identity = loaded.identity;
  const sha256 = await sha256Hex(typeof identity === "string" ? `${source.plugin.name}:${identity}` : identity);
  run.mask = { sha256, empty: loaded.empty, build: loaded.build };
  return undefined;
}
