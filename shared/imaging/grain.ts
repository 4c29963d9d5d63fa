/**
 * Grain matching for one fill: inpainting networks and PDE fills return smoother pixels than the
 * photo around them, so a fill looks plastic. This measures the noise of the kept pixels around
 * the hole and of the fill (per channel, robustly: the median absolute response of Immerkær's
 * 3x3 noise operator, which ignores smooth gradients, over windows entirely kept or entirely
 * hole) and adds the missing part as seeded Gaussian noise, so the output is reproducible.
 */

import { mulberry32 } from "./prng.ts";
import type { Box, Mask, RgbaImage } from "./types.ts";

/** Immerkær's operator: zero on planes, 6 sigma for i.i.d. Gaussian noise of sigma. */
const K = [1, -2, 1, -2, 4, -2, 1, -2, 1];
const MAD_TO_SIGMA = 1 / (0.6745 * 6);
/** Fewer windows than this and the estimate is not trusted (no grain is added). */
const MIN_SAMPLES = 64;

/**
 * Per-channel noise sigma of `img` (whose pixel (0,0) is at `origin` in the mask's frame) over
 * 3x3 windows inside `box` (mask frame) whose nine pixels all have mask value `hole`.
 */
export function noiseSigma(img: RgbaImage, origin: { x: number; y: number }, box: Box, mask: Mask, hole: 0 | 1): number[] | null {
  const hist = [new Uint32Array(2041), new Uint32Array(2041), new Uint32Array(2041)];
  let count = 0;
  for (let gy = box.y + 1; gy < box.y + box.height - 1; gy++) {
    for (let gx = box.x + 1; gx < box.x + box.width - 1; gx++) {
      let all = true;
      for (let dy = -1; dy <= 1 && all; dy++)
        for (let dx = -1; dx <= 1; dx++)
          if (mask.data[(gy + dy) * mask.width + gx + dx] !== hole) {
            all = false;
            break;
          }
      if (!all) continue;
      count++;
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let k = 0; k < 9; k++) {
          const x = gx - origin.x + (k % 3) - 1;
          const y = gy - origin.y + Math.floor(k / 3) - 1;
          s += K[k] * img.data[(y * img.width + x) * 4 + c];
        }
        hist[c][Math.abs(s)]++;
      }
    }
  }
  if (count < MIN_SAMPLES) return null;
  return hist.map((h) => {
    let seen = 0;
    for (let v = 0; v < h.length; v++) {
      seen += h[v];
      if (seen * 2 >= count) return v * MAD_TO_SIGMA;
    }
    return 0;
  });
}

/** Uniform in [0, 1), seeded: the same request gives the same grain. */
function rng(seed: number): () => number {
  const next = mulberry32(seed);
  return () => next() / 4294967296;
}

export interface GrainResult {
  /** Noise sigma per channel around the hole, in the fill, and the sigma added. */
  around: number[] | null;
  fill: number[] | null;
  added: number[];
}

/** Adds the missing noise (times `strength`) to the hole pixels of `fill`, the box of `image`. */
export function matchGrain(fill: RgbaImage, box: Box, image: RgbaImage, mask: Mask, strength = 1): GrainResult {
  const around = noiseSigma(image, { x: 0, y: 0 }, box, mask, 0);
  const own = noiseSigma(fill, { x: box.x, y: box.y }, box, mask, 1) ?? [0, 0, 0];
  const added = [0, 1, 2].map((c) => (around ? strength * Math.sqrt(Math.max(0, around[c] ** 2 - own[c] ** 2)) : 0));
  if (added.every((s) => s < 0.25)) return { around, fill: own, added };
  const next = rng((box.x * 73856093) ^ (box.y * 19349663) ^ (box.width * 83492791) ^ box.height);
  let spare: number | null = null;
  const gauss = () => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    const u = Math.max(next(), 1e-12);
    const v = next();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
  for (let y = 0; y < box.height; y++)
    for (let x = 0; x < box.width; x++) {
      if (!mask.data[(box.y + y) * mask.width + box.x + x]) continue;
      const p = (y * box.width + x) * 4;
      for (let c = 0; c < 3; c++) fill.data[p + c] = fill.data[p + c] + added[c] * gauss();
    }
  return { around, fill: own, added };
}
