/**
 * Stage `mask`: the request's mask, normalised (source, invert, mask_resize) and hashed for the
 * cache key, still without decoding the image. Shapes are hashed as their canonical document: a
 * cache hit then costs no raster.
 */
import { holeCount, maskFromImage } from "../../shared/imaging/mask.ts";
import { rasterizeShapes } from "../../shared/imaging/rasterize.ts";
import { resizeMask } from "../../shared/imaging/resize.ts";
import type { Mask } from "../../shared/imaging/types.ts";
import { Problem } from "../../shared/problems.ts";
import type { InpaintOptions } from "../../shared/schemas/options.ts";
import type { MaskShapes } from "../../shared/schemas/shapes.ts";
import { canonicalJson, sha256Hex } from "../cache.ts";
import { decodeUpload, type ImageHeader, inspectUpload } from "../codecs.ts";
import { type Bindings, uploadLimits } from "../env.ts";
import type { NormalisedMask, Run } from "./run.ts";

function invertInPlace(m: Mask): Mask {
  for (let i = 0; i < m.data.length; i++) m.data[i] ^= 1;
  return m;
}

/** The same key always means the same raster (invert is an option in the key). */
async function shapesMask(doc: MaskShapes, o: InpaintOptions): Promise<NormalisedMask> {
  return {
    sha256: await sha256Hex(`shapes:${canonicalJson(doc)}`),
    empty: doc.shapes.length === 0 && !o.invert_mask,
    build: (ih) => {
      const m = rasterizeShapes(doc.shapes, ih.width, ih.height);
      return o.invert_mask ? invertInPlace(m) : m;
    },
  };
}

async function pngMask(bytes: Uint8Array, ih: ImageHeader, o: InpaintOptions, env: Bindings): Promise<NormalisedMask> {
  const mh = inspectUpload(bytes, "mask", uploadLimits(env), ["png"]);
  const sameSize = mh.width === ih.width && mh.height === ih.height;
  if (!sameSize && !o.mask_resize)
    throw new Problem(
      "mask-mismatch",
      `mask is ${mh.width}x${mh.height} but the image is ${ih.width}x${ih.height} (set mask_resize=true to scale it)`,
      { image: { width: ih.width, height: ih.height }, mask: { width: mh.width, height: mh.height } },
    );
  let m = maskFromImage(await decodeUpload(bytes, mh, "mask"), o.mask_source, o.invert_mask);
  if (!sameSize) m = resizeMask(m, ih.width, ih.height);
  return { sha256: await sha256Hex(m.data), empty: holeCount(m) === 0, build: () => m };
}

export async function mask(run: Run): Promise<undefined> {
  const { form, options } = run;
  run.mask = form.shapes
    ? await shapesMask(form.shapes, options)
    : await pngMask(form.mask as Uint8Array, await run.image.header(), options, run.env);
  form.mask = undefined;
  return undefined;
}
