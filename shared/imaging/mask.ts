import type { MaskSource } from "../schemas/options.ts";
import { componentBoxes, mergeOverlapping, padBox } from "./components.ts";
import { squaredDistance } from "./distance.ts";
import { cropMask } from "./resize.ts";
import { type Box, type Mask, newMask, type RgbaImage } from "./types.ts";

/** The binarisation threshold users know from IOPaint: luminance > 127 is a hole. */
export const MASK_THRESHOLD = 127;

/** A mask from a decoded mask image: white (luminance) or transparent (alpha) pixels are holes. */
export function maskFromImage(img: RgbaImage, source: MaskSource = "luminance", invert = false): Mask {
  const m = newMask(img.width, img.height);
  const d = img.data;
  for (let i = 0, p = 0; i < m.data.length; i++, p += 4) {
    let hole: boolean;
    if (source === "alpha") hole = d[p + 3] < 128;
    else hole = 0.299 * d[p] + 0.587 * d[p + 1] + 0.114 * d[p + 2] > MASK_THRESHOLD;
    m.data[i] = hole !== invert ? 1 : 0;
  }
  return m;
}

/** Swaps holes and kept pixels (invert_mask). */
export function invertInPlace(m: Mask): Mask {
  for (let i = 0; i < m.data.length; i++) m.data[i] ^= 1;
  return m;
}

function dilateWhole(m: Mask, r: number): Mask {
  const d2 = squaredDistance(m.width, m.height, (i) => m.data[i] === 1);
  const out = newMask(m.width, m.height);
  for (let i = 0; i < d2.length; i++) out.data[i] = d2[i] <= r * r ? 1 : 0;
  return out;
}

function erodeWhole(m: Mask, r: number): Mask {
  const d2 = squaredDistance(m.width, m.height, (i) => m.data[i] === 0);
  const out = newMask(m.width, m.height);
  for (let i = 0; i < d2.length; i++) out.data[i] = d2[i] > r * r ? 1 : 0;
  return out;
}

/**
 * Runs `op` only on windows around the hole regions (grown by `pad`, merged so they are
 * disjoint) and copies the rest: a thin stroke on a 12 MP photo costs a few small distance maps,
 * not a 12 MP one. Exact when every pixel `op` can change, and everything that decides it, lies
 * within `pad` of the region it belongs to.
 */
function windowed(m: Mask, pad: number, op: (w: Mask) => Mask): Mask {
  const out: Mask = { width: m.width, height: m.height, data: m.data.slice() };
  const windows = mergeOverlapping(componentBoxes(m).map((b) => padBox(b, pad, m.width, m.height)));
  for (const w of windows) {
    const r = op(cropMask(m, w));
    for (let y = 0; y < w.height; y++) out.data.set(r.data.subarray(y * w.width, (y + 1) * w.width), (w.y + y) * m.width + w.x);
  }
  return out;
}

/** Grow the hole by `r` pixels (Euclidean disk). */
export function dilate(m: Mask, r: number): Mask {
  if (r <= 0) return m;
  // A pixel within r of region A and of a hole in B puts B within 2r of A: 2r + 1 keeps both in one window.
  return windowed(m, 2 * r + 1, (w) => dilateWhole(w, r));
}

/** Shrink the hole by `r` pixels (Euclidean disk). The image border does not erode. */
export function erode(m: Mask, r: number): Mask {
  if (r <= 0) return m;
  return windowed(m, r + 1, (w) => erodeWhole(w, r));
}

export function holeCount(m: Mask): number {
  let n = 0;
  for (let i = 0; i < m.data.length; i++) n += m.data[i];
  return n;
}

export const holeRatio = (m: Mask): number => holeCount(m) / Math.max(1, m.data.length);

/** Tight bounding box of the hole, or null when the mask is empty. */
export function holeBox(m: Mask): Box | null {
  let x0 = m.width;
  let y0 = m.height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < m.height; y++) {
    const row = y * m.width;
    for (let x = 0; x < m.width; x++) {
      if (m.data[row + x]) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  return x1 < 0 ? null : { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 };
}

/**
 * featherWeights(m, width) restricted to `box` (row-major, box-sized), computed on a window of
 * `width + 1` px around it: the same values, without a whole-image distance map.
 */
export function featherWeightsIn(m: Mask, box: Box, width: number): Float32Array {
  const w = padBox(box, width + 1, m.width, m.height);
  const full = featherWeights(cropMask(m, w), width);
  const out = new Float32Array(box.width * box.height);
  const dx = box.x - w.x;
  for (let y = 0; y < box.height; y++) {
    const s = (box.y - w.y + y) * w.width + dx;
    out.set(full.subarray(s, s + box.width), y * box.width);
  }
  return out;
}

/** Feather weights in [0,1]: 0 outside the hole, ramping to 1 at `width` px inside its edge. */
export function featherWeights(m: Mask, width: number): Float32Array {
  const w = new Float32Array(m.data.length);
  if (width <= 0) {
    for (let i = 0; i < w.length; i++) w[i] = m.data[i];
    return w;
  }
  const d2 = squaredDistance(m.width, m.height, (i) => m.data[i] === 0);
  for (let i = 0; i < w.length; i++) w[i] = m.data[i] ? Math.min(1, Math.sqrt(d2[i]) / width) : 0;
  return w;
}
