/**
 * Stage `decode`: the mask raster at the image's size (erode/dilate applied) and its coverage
 * check first, so a refused mask costs no image decode; then the image's pixels, both turned
 * upright by the JPEG's EXIF orientation (EXIF is not copied to the output).
 */
import { jpegOrientation, orientImage, orientMask } from "../../shared/imaging/exif.ts";
import { holeCount } from "../../shared/imaging/mask.ts";
import { prepareMask } from "../../shared/imaging/pipeline.ts";
import { Problem } from "../../shared/problems.ts";
import { decodeUpload } from "../codecs.ts";
import { maxMaskRatio } from "../env.ts";
import { passThrough, type Run } from "./run.ts";

export async function decode(run: Run): Promise<Response | undefined> {
  const ih = await run.image.header();
  run.format = run.options.output_format ?? ih.format;
  let raster = prepareMask(run.mask.build(ih), run.options);
  const holes = holeCount(raster);
  const ratio = holes / (ih.width * ih.height);
  const limit = maxMaskRatio(run.env);
  if (ratio > limit)
    throw new Problem(
      "mask-too-large",
      `the mask covers ${(100 * ratio).toFixed(1)}% of the image (after erode/dilate); the limit is ${(100 * limit).toFixed(0)}%: ` +
        "inpainting fills holes from their surroundings, and this leaves too little to work from",
      { coverage: Math.round(ratio * 1e4) / 1e4, max_ratio: limit },
    );
  if (holes === 0 && run.format === ih.format) return passThrough(run);

  const bytes = await run.image.bytes();
  const orientation = ih.format === "jpeg" ? jpegOrientation(bytes) : 1;
  let pixels = await decodeUpload(bytes, ih, "image");
  run.image.release();
  if (orientation !== 1) {
    pixels = orientImage(pixels, orientation);
    raster = orientMask(raster, orientation);
  }
  run.pixels = pixels;
  run.raster = raster;
  return undefined;
}
