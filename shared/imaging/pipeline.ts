/**
 * The whole-image inpainting pipeline, shared by the CLI and the edge: mask preparation, region
 * planning (one region per connected hole with `crop`), per-region inference (injected), resize
 * back and composite. The model never sees more than a planned region, and only hole pixels of
 * the original change.
 */
import type { InpaintOptions } from "../schemas/options.ts";
import { componentBoxes } from "./components.ts";
import { compositeInto } from "./composite.ts";
import { dilate, erode, type holeBox } from "./mask.ts";
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

export interface PipelineControl {
  /**
   * Composite into `img` itself instead of a copy. The regions are disjoint, so every region is
   * still cut from original pixels; this saves a full-size RGBA copy (48 MB at 12 MP) at the edge.
   */
  inPlace?: boolean;
  /** The mask is already eroded/dilated (the caller needed it first, e.g. for a coverage check). */
  prepared?: boolean;
}

/** Erode then dilate, in that order, so that `erode` removes specks and `dilate` covers halos. */
export function prepareMask(m: Mask, o: Pick<InpaintOptions, "dilate" | "erode">): Mask {
  return dilate(erode(m, o.erode), o.dilate);
}

export interface PipelineResult {
  image: RgbaImage;
  regions: WorkRegion[];
  mask: Mask;
}

/** The default region finder: the bounding box of each connected hole (8-connectivity). */
export const holeRegions = (m: Mask): ReturnType<typeof holeBox>[] => componentBoxes(m);

export async function inpaintPipeline(
  img: RgbaImage,
  rawMask: Mask,
  o: PipelineOptions,
  infer: InferFn,
  holes: (m: Mask) => ReturnType<typeof holeBox>[] = holeRegions,
  control: PipelineControl = {},
): Promise<PipelineResult> {
  if (img.width !== rawMask.width || img.height !== rawMask.height) throw new RangeError("image and mask sizes differ");
  const mask = control.prepared ? rawMask : prepareMask(rawMask, o);
  const out: RgbaImage = control.inPlace ? img : { width: img.width, height: img.height, data: img.data.slice() };
  const boxes = holes(mask).filter((b) => b !== null);
  const regions = planRegions(img.width, img.height, boxes, o);
  for (const r of regions) {
    const whole = r.box.width === img.width && r.box.height === img.height;
    // Regions are disjoint, so these are still original pixels; the whole image is not copied.
    let part = whole ? out : cropImage(out, r.box);
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
