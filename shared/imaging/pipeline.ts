/**
 * The whole-image inpainting pipeline, shared by the CLI and the edge: mask preparation, region
 * planning, per-region inference (injected), resize back and composite. The model never sees more
 * than a planned region, and only hole pixels of the original change.
 */
import type { InpaintOptions } from "../schemas/options.ts";
import { compositeInto } from "./composite.ts";
import { dilate, erode, holeBox } from "./mask.ts";
import { planRegions, type WorkRegion } from "./plan.ts";
import { cropImage, cropMask, resizeImage, resizeMask } from "./resize.ts";
import type { Mask, RgbaImage } from "./types.ts";

/** Runs the model on one working region (already at work size); returns the inpainted region. */
export type InferFn = (image: RgbaImage, mask: Mask, region: WorkRegion) => Promise<RgbaImage>;

export type PipelineOptions = Pick<
  InpaintOptions,
  | "hd_strategy"
  | "hd_strategy_crop_trigger_size"
  | "hd_strategy_crop_margin"
  | "hd_strategy_resize_limit"
  | "dilate"
  | "erode"
  | "feather"
>;

/** Erode then dilate, in that order, so that `erode` removes specks and `dilate` covers halos. */
export function prepareMask(m: Mask, o: Pick<InpaintOptions, "dilate" | "erode">): Mask {
  return dilate(erode(m, o.erode), o.dilate);
}

export interface PipelineResult {
  image: RgbaImage;
  regions: WorkRegion[];
  mask: Mask;
}

export async function inpaintPipeline(
  img: RgbaImage,
  rawMask: Mask,
  o: PipelineOptions,
  infer: InferFn,
  holes?: (m: Mask) => ReturnType<typeof holeBox>[],
): Promise<PipelineResult> {
  if (img.width !== rawMask.width || img.height !== rawMask.height) throw new RangeError("image and mask sizes differ");
  const mask = prepareMask(rawMask, o);
  const out: RgbaImage = { width: img.width, height: img.height, data: img.data.slice() };
  const boxes = (holes ? holes(mask) : [holeBox(mask)]).filter((b) => b !== null);
  const regions = planRegions(img.width, img.height, boxes, o);
  for (const r of regions) {
    let part = cropImage(img, r.box);
    let pmask = cropMask(mask, r.box);
    const scaled = r.workWidth !== r.box.width || r.workHeight !== r.box.height;
    if (scaled) {
      part = resizeImage(part, r.workWidth, r.workHeight);
      pmask = resizeMask(pmask, r.workWidth, r.workHeight);
    }
    let result = await infer(part, pmask, r);
    if (scaled) result = resizeImage(result, r.box.width, r.box.height);
    compositeInto(out, result, r.box, mask, o.feather);
  }
  return { image: out, regions, mask };
}
