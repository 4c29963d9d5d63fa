import { featherWeightsIn } from "./mask.ts";
import type { Box, Mask, RgbaImage } from "./types.ts";

/**
 * Paste `patch` (the inpainted `box` of `target`) into `target` in place, only where `mask` is a
 * hole, blended by the feather ramp. Pixels outside the mask, and alpha everywhere, are untouched.
 */
export function compositeInto(target: RgbaImage, patch: RgbaImage, box: Box, mask: Mask, feather = 0): void {
  if (patch.width !== box.width || patch.height !== box.height) throw new RangeError("patch does not match its box");
  const weights = feather > 0 ? featherWeightsIn(mask, box, feather) : null;
  for (let y = 0; y < box.height; y++) {
    for (let x = 0; x < box.width; x++) {
      const gi = (box.y + y) * target.width + box.x + x;
      if (!mask.data[gi]) continue;
      const a = weights ? weights[y * box.width + x] : 1;
      const t = gi * 4;
      const p = (y * box.width + x) * 4;
      for (let c = 0; c < 3; c++) target.data[t + c] = a * patch.data[p + c] + (1 - a) * target.data[t + c];
    }
  }
}

/**
 * Feathering as a fill post-process: blends the fill toward the original inside the hole edge
 * (weight 0 at the edge, 1 at `width` px inside), so that a hard composite of the result equals
 * `compositeInto(..., width)`.
 */
export function featherFill(fill: RgbaImage, box: Box, original: RgbaImage, mask: Mask, width: number): void {
  if (width <= 0) return;
  const weights = featherWeightsIn(mask, box, width);
  for (let y = 0; y < box.height; y++) {
    for (let x = 0; x < box.width; x++) {
      const a = weights[y * box.width + x];
      if (a >= 1) continue;
      const t = ((box.y + y) * original.width + box.x + x) * 4;
      const p = (y * box.width + x) * 4;
      for (let c = 0; c < 3; c++) fill.data[p + c] = a * fill.data[p + c] + (1 - a) * original.data[t + c];
    }
  }
}
