/**
 * Where the model works on a large image (IOPaint's HD strategies, decided before any GPU call).
 * A region is a box of the original image and the size the model sees it at.
 */
import type { InpaintOptions } from "../schemas/options.ts";
import { mergeOverlapping } from "./components.ts";
import type { Box } from "./types.ts";

export interface WorkRegion {
  box: Box;
  /** Size the box is resized to before inference (equal to the box size when not scaled). */
  workWidth: number;
  workHeight: number;
}

export type PlanOptions = Pick<
  InpaintOptions,
  "hd_strategy" | "hd_strategy_crop_trigger_size" | "hd_strategy_crop_margin" | "hd_strategy_resize_limit"
>;

/** Scale (w, h) down so that the longer side is at most `limit`; never up. */
export function fitWithin(w: number, h: number, limit: number): [number, number] {
  const s = Math.min(1, limit / Math.max(w, h));
  return [Math.max(1, Math.round(w * s)), Math.max(1, Math.round(h * s))];
}

/** Grow `b` by `margin` on every side, then shift it inward (not clip) where it leaves the image. */
export function expandBox(b: Box, margin: number, width: number, height: number): Box {
  const w = Math.min(width, b.width + 2 * margin);
  const h = Math.min(height, b.height + 2 * margin);
  const cx = b.x + b.width / 2;
  const cy = b.y + b.height / 2;
  const x = Math.min(Math.max(0, Math.round(cx - w / 2)), width - w);
  const y = Math.min(Math.max(0, Math.round(cy - h / 2)), height - h);
  return { x, y, width: w, height: h };
}

const whole = (width: number, height: number, limit = Number.POSITIVE_INFINITY): WorkRegion => {
  const [ww, wh] = fitWithin(width, height, limit);
  return { box: { x: 0, y: 0, width, height }, workWidth: ww, workHeight: wh };
};

/**
 * Regions for `holes` (bounding boxes of the hole components, or one box of all holes).
 * `original`: the whole image as is. `resize`: the whole image, longer side <= resize limit.
 * `crop`: above the trigger size, one margin-grown box per hole (shifted inward at the image
 * edge), overlapping boxes merged into their union until none overlap, each shrunk to the resize
 * limit. The regions are disjoint: every hole pixel is inpainted by exactly one of them.
 */
export function planRegions(width: number, height: number, holes: Box[], o: PlanOptions): WorkRegion[] {
  if (holes.length === 0) return [];
  if (o.hd_strategy === "original") return [whole(width, height)];
  if (o.hd_strategy === "resize") return [whole(width, height, o.hd_strategy_resize_limit)];
  if (Math.max(width, height) <= o.hd_strategy_crop_trigger_size) return [whole(width, height)];
  const boxes = mergeOverlapping(holes.map((h) => expandBox(h, o.hd_strategy_crop_margin, width, height)));
  return boxes.map((box) => {
    const [ww, wh] = fitWithin(box.width, box.height, o.hd_strategy_resize_limit);
    return { box, workWidth: ww, workHeight: wh };
  });
}
