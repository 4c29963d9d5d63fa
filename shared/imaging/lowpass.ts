/**
 * Low-pass and pyramid helpers on interleaved float planes (RGB as 3 floats a pixel), for patch
 * synthesis. Only additions, multiplications and divisions, in a fixed order, so every
 * JavaScript engine gives the same bits (no Math.exp: the in-page path must equal the server's).
 */

/**
 * Box blur of radius `r`, `passes` times (two passes of radius 3: a tent of sigma ~2.8), over a
 * w x h image with `channels` interleaved floats a pixel; the edges are repeated.
 */
export function boxBlur(src: Float32Array, w: number, h: number, channels: number, r: number, passes = 2): Float32Array {
  let cur = src;
  const tmp = new Float32Array(src.length);
  const line = new Float64Array(Math.max(w, h) * channels);
  const n = 2 * r + 1;
  // One dimension: `count` lines of `len` pixels, pixel i of line k at (k * across + i * along) * channels.
  const blur1d = (from: Float32Array, to: Float32Array, count: number, len: number, across: number, along: number) => {
    for (let k = 0; k < count; k++) {
      for (let c = 0; c < channels; c++) {
        const at = (i: number) => from[(k * across + Math.min(len - 1, Math.max(0, i)) * along) * channels + c];
        let s = 0;
        for (let i = -r; i <= r; i++) s += at(i);
        for (let i = 0; i < len; i++) {
          line[i * channels + c] = s / n;
          s += at(i + r + 1) - at(i - r);
        }
      }
      for (let i = 0; i < len; i++)
        for (let c = 0; c < channels; c++) to[(k * across + i * along) * channels + c] = line[i * channels + c];
    }
  };
  for (let p = 0; p < passes; p++) {
    const out = new Float32Array(src.length);
    blur1d(cur, tmp, h, w, w, 1); // rows
    blur1d(tmp, out, w, h, 1, w); // columns
    cur = out;
  }
  return cur === src ? src.slice() : cur;
}

/** Half size (rounded up): each pixel the mean of its 2x2 block, the last row and column repeated. */
export function halve(
  src: Float32Array,
  w: number,
  h: number,
  channels: number,
): { data: Float32Array; width: number; height: number } {
  const W = Math.ceil(w / 2);
  const H = Math.ceil(h / 2);
  const out = new Float32Array(W * H * channels);
  for (let y = 0; y < H; y++) {
    const y0 = 2 * y;
    const y1 = Math.min(h - 1, y0 + 1);
    for (let x = 0; x < W; x++) {
      const x0 = 2 * x;
      const x1 = Math.min(w - 1, x0 + 1);
      for (let c = 0; c < channels; c++)
        out[(y * W + x) * channels + c] =
          (src[(y0 * w + x0) * channels + c] +
            src[(y0 * w + x1) * channels + c] +
            src[(y1 * w + x0) * channels + c] +
            src[(y1 * w + x1) * channels + c]) /
          4;
    }
  }
  return { data: out, width: W, height: H };
}

/** A hole mask at half size (rounded up): a pixel is a hole when any pixel of its 2x2 block is. */
export function halveHole(hole: Uint8Array, w: number, h: number): Uint8Array {
  const W = Math.ceil(w / 2);
  const H = Math.ceil(h / 2);
  const out = new Uint8Array(W * H);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (hole[y * w + x]) out[(y >> 1) * W + (x >> 1)] = 1;
  return out;
}

/** Square dilation of radius `r` (Chebyshev): 1 where any pixel within r in x and in y is 1. */
export function dilateSquare(hole: Uint8Array, w: number, h: number, r: number): Uint8Array {
  const rows = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    let last = -Infinity; // the last hole seen in this row, scanning right
    for (let x = 0; x < w; x++) {
      if (hole[y * w + x]) last = x;
      if (x - last <= r) rows[y * w + x] = 1;
    }
    last = Infinity;
    for (let x = w - 1; x >= 0; x--) {
      if (hole[y * w + x]) last = x;
      if (last - x <= r) rows[y * w + x] = 1;
    }
  }
  const out = new Uint8Array(w * h);
  for (let x = 0; x < w; x++) {
    let last = -Infinity;
    for (let y = 0; y < h; y++) {
      if (rows[y * w + x]) last = y;
      if (y - last <= r) out[y * w + x] = 1;
    }
    last = Infinity;
    for (let y = h - 1; y >= 0; y--) {
      if (rows[y * w + x]) last = y;
      if (last - y <= r) out[y * w + x] = 1;
    }
  }
  return out;
}
