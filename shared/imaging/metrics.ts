/** Image quality numbers for tests and benchmarks (the model card's are computed in Python). */
import type { RgbaImage } from "./types.ts";

/** PSNR (dB) over the RGB of the pixels where `hole` is non-zero; Infinity when they are identical. */
export function holePsnr(out: RgbaImage, ref: RgbaImage, hole: Uint8Array): number {
  let se = 0;
  let n = 0;
  for (let i = 0; i < hole.length; i++) {
    if (!hole[i]) continue;
    for (let c = 0; c < 3; c++) se += (out.data[i * 4 + c] - ref.data[i * 4 + c]) ** 2;
    n += 3;
  }
  if (n === 0) throw new RangeError("holePsnr: the hole is empty");
  return se === 0 ? Number.POSITIVE_INFINITY : 10 * Math.log10((255 * 255) / (se / n));
}
