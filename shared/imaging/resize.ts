/**
 * Separable resampling with a triangle (bilinear) filter whose support widens when shrinking,
 * so downscaling averages instead of aliasing (PIL's BILINEAR behaves the same way).
 * Pixel centres at (i + 0.5); edges clamp.
 */
import { type Box, type Mask, newImage, newMask, type RgbaImage } from "./types.ts";

interface Taps {
  start: Int32Array;
  count: Int32Array;
  weights: Float32Array;
  stride: number;
}

function taps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const support = Math.max(1, scale);
  const stride = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float32Array(outSize * stride);
  for (let o = 0; o < outSize; o++) {
    const c = (o + 0.5) * scale;
    const lo = Math.max(0, Math.floor(c - support));
    const hi = Math.min(inSize, Math.ceil(c + support));
    let sum = 0;
    let n = 0;
    for (let i = lo; i < hi && n < stride; i++, n++) {
      const w = Math.max(0, 1 - Math.abs((i + 0.5 - c) / support));
      weights[o * stride + n] = w;
      sum += w;
    }
    if (sum === 0) {
      // Degenerate (tiny input): nearest pixel.
      weights[o * stride] = 1;
      start[o] = Math.min(inSize - 1, Math.floor(c));
      count[o] = 1;
      continue;
    }
    for (let k = 0; k < n; k++) weights[o * stride + k] /= sum;
    start[o] = lo;
    count[o] = n;
  }
  return { start, count, weights, stride };
}

/** Resize `channels`-interleaved float planes. */
export function resizePlanes(
  src: ArrayLike<number>,
  w: number,
  h: number,
  channels: number,
  ow: number,
  oh: number,
): Float32Array {
  return resizeInto(src, w, h, channels, ow, oh, new Float32Array(ow * oh * channels));
}

/**
 * Resize into `out` (float planes, or bytes: Uint8ClampedArray rounds and clamps). Each output
 * row is summed in a float row buffer, so a byte output needs no full-size float copy.
 */
function resizeInto<T extends Float32Array | Uint8ClampedArray>(
  src: ArrayLike<number>,
  w: number,
  h: number,
  channels: number,
  ow: number,
  oh: number,
  out: T,
): T {
  const tx = taps(w, ow);
  const ty = taps(h, oh);
  const mid = new Float32Array(ow * h * channels);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < ow; x++) {
      const s = tx.start[x];
      const o = (y * ow + x) * channels;
      for (let k = 0; k < tx.count[x]; k++) {
        const wgt = tx.weights[x * tx.stride + k];
        const p = (y * w + s + k) * channels;
        for (let c = 0; c < channels; c++) mid[o + c] += src[p + c] * wgt;
      }
    }
  }
  const rowLen = ow * channels;
  const acc = new Float32Array(rowLen);
  for (let y = 0; y < oh; y++) {
    acc.fill(0);
    const s = ty.start[y];
    for (let k = 0; k < ty.count[y]; k++) {
      const wgt = ty.weights[y * ty.stride + k];
      const row = (s + k) * rowLen;
      for (let i = 0; i < rowLen; i++) acc[i] += mid[row + i] * wgt;
    }
    out.set(acc, y * rowLen);
  }
  return out;
}

export function resizeImage(img: RgbaImage, ow: number, oh: number): RgbaImage {
  if (ow === img.width && oh === img.height) return { width: ow, height: oh, data: img.data.slice() };
  const out = newImage(ow, oh);
  // Bytes in, bytes out: full-size float copies of a 12 MP image would be 192 MB each.
  resizeInto(img.data, img.width, img.height, 4, ow, oh, out.data);
  return out; // Uint8ClampedArray.set rounds and clamps
}

/** Resize a mask; a pixel is a hole when any hole pixel contributes to it, so thin holes survive. */
export function resizeMask(m: Mask, ow: number, oh: number): Mask {
  if (ow === m.width && oh === m.height) return { width: ow, height: oh, data: m.data.slice() };
  const r = resizePlanes(m.data, m.width, m.height, 1, ow, oh);
  const out = newMask(ow, oh);
  for (let i = 0; i < r.length; i++) out.data[i] = r[i] > 1e-6 ? 1 : 0;
  return out;
}

export function cropImage(img: RgbaImage, b: Box): RgbaImage {
  const out = newImage(b.width, b.height);
  for (let y = 0; y < b.height; y++) {
    const s = ((b.y + y) * img.width + b.x) * 4;
    out.data.set(img.data.subarray(s, s + b.width * 4), y * b.width * 4);
  }
  return out;
}

export function cropMask(m: Mask, b: Box): Mask {
  const out = newMask(b.width, b.height);
  for (let y = 0; y < b.height; y++) {
    const s = (b.y + y) * m.width + b.x;
    out.data.set(m.data.subarray(s, s + b.width), y * b.width);
  }
  return out;
}
