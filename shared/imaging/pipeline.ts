/**
 * The whole-image inpainting pipeline, shared by the CLI and the edge, as pure stages: mask
 * preparation, region planning (one region per connected hole with `crop`), per-region fill
 * (inference injected: crop, resize to work size, infer, resize back), post-processing of each
 * fill (injected) and composite. The model never sees more than a planned region, and only hole
 * pixels of the original change. The edge runs the same functions one stage at a time
 * (workers/pipeline/); `inpaintPipeline` chains them for the CLI.
 */
import type { InpaintOptions } from "../schemas/options.ts";
import { componentBoxes } from "./components.ts";
import { compositeInto } from "./composite.ts";
import { dilate, erode, type holeBox } from "./mask.ts";
import { type PlanOptions, planRegions, type WorkRegion } from "./plan.ts";
import { cropImage, cropMask, resizeImage, resizeMask } from "./resize.ts";
import type { Box, Mask, RgbaImage } from "./types.ts";

/** Runs the model on one working region (already at work size); returns the inpainted region. */
export type InferFn = (image: RgbaImage, mask: Mask, region: WorkRegion) => Promise<RgbaImage>;

/** One region's fill, at box size, before it is composited into the image. */
export interface Fill {
  region: WorkRegion;
  image: RgbaImage;
}

/**
 * Changes a fill in place before it is composited (post-processor plugins): `image` is the whole
 * picture, still original inside `fill.region.box`; `mask` the whole prepared mask.
 */
export type PostProcessFn = (fill: Fill, image: RgbaImage, mask: Mask) => void | Promise<void>;

export type PipelineOptions = PlanOptions & Pick<InpaintOptions, "dilate" | "erode">;

export interface PipelineControl {
  /**
   * Composite into `img` itself instead of a copy. The regions are disjoint, so every region is
   * still cut from original pixels; this saves a full-size RGBA copy (48 MB at 12 MP) at the edge.
   */
  inPlace?: boolean;
  /** The mask is already eroded/dilated (the caller needed it first, e.g. for a coverage check). */
  prepared?: boolean;
  /** Post-processors, in order, on each fill before it is composited. */
  post?: PostProcessFn;
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

/** Plan stage: the disjoint working regions for a prepared mask. */
export function planWork(
  mask: Mask,
  o: PlanOptions,
  holes: (m: Mask) => ReturnType<typeof holeBox>[] = holeRegions,
): WorkRegion[] {
  const boxes = holes(mask).filter((b): b is Box => b !== null);
  return planRegions(mask.width, mask.height, boxes, o);
}

/** Infer stage, one region: crop, scale to work size, infer, scale back to the box. */
export async function fillRegion(img: RgbaImage, mask: Mask, r: WorkRegion, infer: InferFn): Promise<Fill> {
  const whole = r.box.width === img.width && r.box.height === img.height;
  // Regions are disjoint, so these are still original pixels; the whole image is not copied.
  let part = whole ? img : cropImage(img, r.box);
  let pmask = cropMask(mask, r.box);
  const scaled = r.workWidth !== r.box.width || r.workHeight !== r.box.height;
  if (scaled) {
    part = resizeImage(part, r.workWidth, r.workHeight);
    pmask = resizeMask(pmask, r.workWidth, r.workHeight);
  }
  let result = await infer(part, pmask, r);
  if (scaled) result = resizeImage(result, r.box.width, r.box.height);
  return { region: r, image: result };
}

/** Post-process stage, one fill: the post-processors, then the fill's hole pixels into `img`. */
export async function finishFill(img: RgbaImage, mask: Mask, fill: Fill, post?: PostProcessFn): Promise<void> {
  await post?.(fill, img, mask);
  compositeInto(img, fill.image, fill.region.box, mask);
}

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
  const regions = planWork(mask, o, holes);
  // One region at a time: one fill alive at once.
  for (const r of regions) await finishFill(out, mask, await fillRegion(out, mask, r, infer), control.post);
  return { image: out, regions, mask };
}
