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
