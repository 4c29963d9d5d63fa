/**
 * Gradient-domain (Poisson) seam blending of one fill. The fill keeps its own gradients between
 * hole pixels, and across the hole's border it is asked to continue the original: the correction
 * c solves the discrete Laplace equation over the hole with, at every border edge (hole p, kept
 * q), the mismatch original(q) - fill(p) as its boundary data. Adding c removes colour and
 * brightness steps at region borders and leaves the fill's texture alone (Pérez et al. 2003, with
 * a zero guidance gradient across the border). Solved by conjugate gradients per channel.
 */
import type { Box, Mask, RgbaImage } from "./types.ts";

export interface SeamOptions {
  /** Stop when |r| <= tolerance * |b| (per channel). */
  tolerance?: number;
  /** Bound on the work: iterations per channel (default 4 sqrt(hole pixels) + 100). */
  maxIterations?: number;
}

/** Changes the hole pixels of `fill` (the box of `image`) in place; returns the iterations used. */
export function blendSeams(fill: RgbaImage, box: Box, image: RgbaImage, mask: Mask, o: SeamOptions = {}): number {
  const W = box.width;
  const H = box.height;
  const index = new Int32Array(W * H).fill(-1);
  const where: number[] = [];
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++)
      if (mask.data[(box.y + y) * mask.width + box.x + x]) {
        index[y * W + x] = where.length;
        where.push(y * W + x);
      }
  const n = where.length;
  if (n === 0) return 0;
  // Per hole pixel: its hole neighbours (-1: none), its degree, and its kept neighbours' offsets.
  const nbr = new Int32Array(n * 4).fill(-1);
  const deg = new Float64Array(n);
  const kept: number[][] = Array.from({ length: n }, () => []);
  for (let i = 0; i < n; i++) {
    const x = where[i] % W;
    const y = (where[i] - x) / W;
    const gx = box.x + x;
    const gy = box.y + y;
    const steps = [
      [1, 0],
      [-1, 0],
      [0, 1],
      [0, -1],
    ];
    for (let s = 0; s < 4; s++) {
      const nx = gx + steps[s][0];
      const ny = gy + steps[s][1];
      if (nx < 0 || ny < 0 || nx >= image.width || ny >= image.height) continue; // image border: no constraint
      deg[i]++;
      const lx = nx - box.x;
      const ly = ny - box.y;
      // Outside the box the pixel is kept: a region holds every hole it touches.
      const j = lx >= 0 && ly >= 0 && lx < W && ly < H ? index[ly * W + lx] : -1;
      if (j >= 0) nbr[i * 4 + s] = j;
      else kept[i].push((ny * image.width + nx) * 4);
    }
  }
  const maxIt = o.maxIterations ?? Math.ceil(4 * Math.sqrt(n)) + 100;
  const tol = o.tolerance ?? 1e-4;
  const b = new Float64Array(n);
  const x = new Float64Array(n);
  const r = new Float64Array(n);
  const p = new Float64Array(n);
  const ap = new Float64Array(n);
  const apply = (v: Float64Array, out: Float64Array) => {
    for (let i = 0; i < n; i++) {
      let s = deg[i] * v[i];
      for (let k = i * 4; k < i * 4 + 4; k++) if (nbr[k] >= 0) s -= v[nbr[k]];
      out[i] = s;
    }
  };
  let used = 0;
  for (let c = 0; c < 3; c++) {
    let bb = 0;
    for (let i = 0; i < n; i++) {
      const f = fill.data[where[i] * 4 + c];
      let s = 0;
      for (const q of kept[i]) s += image.data[q + c] - f;
      b[i] = s;
      bb += s * s;
    }
    x.fill(0);
    r.set(b);
    p.set(b);
    let rr = bb;
    let it = 0;
    while (it < maxIt && rr > tol * tol * bb && rr > 1e-12) {
      apply(p, ap);
      let pap = 0;
      for (let i = 0; i < n; i++) pap += p[i] * ap[i];
      if (pap <= 0) break; // a part of the hole with no kept neighbour: nothing to match
      const alpha = rr / pap;
      let rr2 = 0;
      for (let i = 0; i < n; i++) {
        x[i] += alpha * p[i];
        r[i] -= alpha * ap[i];
        rr2 += r[i] * r[i];
      }
      const beta = rr2 / rr;
      for (let i = 0; i < n; i++) p[i] = r[i] + beta * p[i];
      rr = rr2;
      it++;
    }
    used = Math.max(used, it);
    for (let i = 0; i < n; i++) fill.data[where[i] * 4 + c] = fill.data[where[i] * 4 + c] + x[i];
  }
  return used;
}
