/**
 * Connected hole regions (8-connectivity) and their bounding boxes, found from row runs with a
 * union-find, so memory grows with the number of runs, not with the image (a 12 MP label map
 * would be 48 MB). Also the merge that makes grown boxes disjoint, so that every hole pixel lies
 * in exactly one working region.
 */
import type { Box, Mask } from "./types.ts";

/** Above this many runs (noise, dithering) the mask is treated as one region: see componentBoxes. */
export const MAX_RUNS = 1 << 19;

class Growable {
  data = new Int32Array(1024);
  length = 0;
  push(v: number): void {
    if (this.length === this.data.length) {
      const next = new Int32Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
}

/**
 * Bounding box of each 8-connected hole region, in scan order of the region's first run.
 * A mask with more than `maxRuns` runs falls back to the single box of all holes (a speckled
 * mask would otherwise mean thousands of GPU calls).
 */
export function componentBoxes(m: Mask, maxRuns = MAX_RUNS): Box[] {
  const { width: W, height: H, data } = m;
  const x0 = new Growable();
  const x1 = new Growable();
  const ys = new Growable();
  const parent = new Growable();
  const find = (i: number): number => {
    let r = i;
    while (parent.data[r] !== r) r = parent.data[r];
    while (parent.data[i] !== r) {
      const n = parent.data[i];
      parent.data[i] = r;
      i = n;
    }
    return r;
  };
  let prevStart = 0;
  let prevEnd = 0;
  for (let y = 0; y < H; y++) {
    const row = y * W;
    const start = x0.length;
    let p = prevStart;
    for (let x = 0; x < W; x++) {
      if (!data[row + x]) continue;
      const a = x;
      while (x + 1 < W && data[row + x + 1]) x++;
      const id = x0.length;
      if (id >= maxRuns) {
        return [allHoles(m)];
      }
      x0.push(a);
      x1.push(x);
      ys.push(y);
      parent.push(id);
      // Runs of the previous row touching [a-1, x+1] belong to the same region (8-connectivity).
      while (p < prevEnd && x1.data[p] < a - 1) p++;
      for (let q = p; q < prevEnd && x0.data[q] <= x + 1; q++) {
        const ra = find(id);
        const rb = find(q);
        if (ra !== rb) parent.data[Math.max(ra, rb)] = Math.min(ra, rb);
      }
    }
    prevStart = start;
    prevEnd = x0.length;
  }
  const boxes = new Map<number, [number, number, number, number]>();
  for (let i = 0; i < x0.length; i++) {
    const r = find(i);
    const b = boxes.get(r);
    if (!b) boxes.set(r, [x0.data[i], ys.data[i], x1.data[i], ys.data[i]]);
    else {
      b[0] = Math.min(b[0], x0.data[i]);
      b[2] = Math.max(b[2], x1.data[i]);
      b[3] = Math.max(b[3], ys.data[i]);
    }
  }
  return [...boxes.values()].map(([ax, ay, bx, by]) => ({ x: ax, y: ay, width: bx - ax + 1, height: by - ay + 1 }));
}

/** Box of every hole pixel (the mask is known to have some). */
function allHoles(m: Mask): Box {
  let [ax, ay, bx, by] = [m.width, m.height, -1, -1];
  for (let y = 0; y < m.height; y++)
    for (let x = 0, row = y * m.width; x < m.width; x++)
      if (m.data[row + x]) {
        ax = Math.min(ax, x);
        bx = Math.max(bx, x);
        ay = Math.min(ay, y);
        by = y;
      }
  return { x: ax, y: ay, width: bx - ax + 1, height: by - ay + 1 };
}

export const boxesOverlap = (a: Box, b: Box): boolean =>
  a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

export function unionBox(a: Box, b: Box): Box {
  const x = Math.min(a.x, b.x);
  const y = Math.min(a.y, b.y);
  return { x, y, width: Math.max(a.x + a.width, b.x + b.width) - x, height: Math.max(a.y + a.height, b.y + b.height) - y };
}

/**
 * Replaces overlapping boxes by their union until no two overlap. The result covers every pixel
 * of the input boxes, and no pixel twice.
 */
export function mergeOverlapping(boxes: readonly Box[]): Box[] {
  const out = boxes.map((b) => ({ ...b }));
  let merged = true;
  while (merged) {
    merged = false;
    for (let i = 0; i < out.length && !merged; i++)
      for (let j = i + 1; j < out.length; j++)
        if (boxesOverlap(out[i], out[j])) {
          out[i] = unionBox(out[i], out[j]);
          out.splice(j, 1);
          merged = true; // a union can reach boxes already checked: start over
          break;
        }
  }
  return out;
}

/** Grow `b` by `pad` on every side, clipped to the image (for windows of exact local operations). */
export function padBox(b: Box, pad: number, width: number, height: number): Box {
  const x = Math.max(0, b.x - pad);
  const y = Math.max(0, b.y - pad);
  return { x, y, width: Math.min(width, b.x + b.width + pad) - x, height: Math.min(height, b.y + b.height + pad) - y };
}
