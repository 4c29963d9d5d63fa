/**
 * Mask shapes (shared/schemas/shapes.ts) to a binary mask. A pixel is a hole when its centre
 * (x + 0.5, y + 0.5) is inside a shape: rectangles as [x, x + width) x [y, y + height), polygons
 * by the nonzero winding rule (as SVG and canvas fill by default), strokes as every point within
 * width / 2 of the polyline (round joins and caps). Work is per row span, so a long thin stroke
 * across a 12 MP image costs its length, not its bounding box.
 */
import type { Point, Shape } from "../schemas/shapes.ts";
import { type Mask, newMask } from "./types.ts";

/** Sets pixels [ceil(xl - 0.5), floor(xr - 0.5)] of row y: the pixels whose centres lie in [xl, xr]. */
function span(m: Mask, y: number, xl: number, xr: number): void {
  const a = Math.max(0, Math.ceil(xl - 0.5));
  const b = Math.min(m.width - 1, Math.floor(xr - 0.5));
  if (a <= b) m.data.fill(1, y * m.width + a, y * m.width + b + 1);
}

const rows = (m: Mask, top: number, bottom: number): [number, number] => [
  Math.max(0, Math.ceil(top - 0.5)),
  Math.min(m.height - 1, Math.floor(bottom - 0.5)),
];

function rect(m: Mask, s: Extract<Shape, { type: "rect" }>): void {
  // Half-open: centre c is inside when x <= c < x + width.
  const y0 = Math.max(0, Math.ceil(s.y - 0.5));
  const y1 = Math.min(m.height, Math.ceil(s.y + s.height - 0.5));
  const x0 = Math.max(0, Math.ceil(s.x - 0.5));
  const x1 = Math.min(m.width, Math.ceil(s.x + s.width - 0.5));
  for (let y = y0; y < y1; y++) if (x0 < x1) m.data.fill(1, y * m.width + x0, y * m.width + x1);
}

function polygon(m: Mask, pts: readonly Point[]): void {
  const ys = pts.map((p) => p[1]);
  const [y0, y1] = rows(m, Math.min(...ys), Math.max(...ys));
  const xs: { x: number; dir: number }[] = [];
  for (let y = y0; y <= y1; y++) {
    const cy = y + 0.5;
    xs.length = 0;
    for (let i = 0; i < pts.length; i++) {
      const [ax, ay] = pts[i];
      const [bx, by] = pts[(i + 1) % pts.length];
      // Half-open in y so a vertex shared by two edges is counted once.
      if (ay <= cy && by > cy) xs.push({ x: ax + ((cy - ay) * (bx - ax)) / (by - ay), dir: 1 });
      else if (by <= cy && ay > cy) xs.push({ x: ax + ((cy - ay) * (bx - ax)) / (by - ay), dir: -1 });
    }
    xs.sort((a, b) => a.x - b.x);
    let wind = 0;
    for (let k = 0; k < xs.length - 1; k++) {
      wind += xs[k].dir;
      // Centres in [x_k, x_k+1): the right edge is exclusive, as for rectangles.
      if (wind !== 0) span(m, y, xs[k].x, xs[k + 1].x - 1e-9);
    }
  }
}

/** Interval of x where lo <= a * x + b <= hi, as [left, right] (empty when left > right). */
function solve(a: number, b: number, lo: number, hi: number): [number, number] {
  if (Math.abs(a) < 1e-12) return b >= lo && b <= hi ? [-Infinity, Infinity] : [Infinity, -Infinity];
  const p = (lo - b) / a;
  const q = (hi - b) / a;
  return p < q ? [p, q] : [q, p];
}

/** The capsule of radius r around segment AB, row by row. */
function capsule(m: Mask, a: Point, b: Point, r: number): void {
  const [y0, y1] = rows(m, Math.min(a[1], b[1]) - r, Math.max(a[1], b[1]) + r);
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  const len2 = dx * dx + dy * dy;
  const len = Math.sqrt(len2);
  for (let y = y0; y <= y1; y++) {
    const cy = y + 0.5;
    let left = Infinity;
    let right = -Infinity;
    for (const [px, py] of [a, b]) {
      const h = r * r - (cy - py) * (cy - py);
      if (h >= 0) {
        left = Math.min(left, px - Math.sqrt(h));
        right = Math.max(right, px + Math.sqrt(h));
      }
    }
    // A segment shorter than 1e-6 px is its end disks (and its band's equations are ill-conditioned).
    if (len > 1e-6) {
      // Points whose projection falls on the segment and whose distance to its line is <= r.
      const along = solve(dx, (cy - a[1]) * dy - a[0] * dx, 0, len2);
      const across = solve(dy, -(cy - a[1]) * dx - a[0] * dy, -r * len, r * len);
      const l = Math.max(along[0], across[0]);
      const rr = Math.min(along[1], across[1]);
      if (l <= rr) {
        left = Math.min(left, l);
        right = Math.max(right, rr);
      }
    }
    // The capsule is convex, so the union of its pieces on this row is one interval.
    if (left <= right) span(m, y, left, right);
  }
}

function stroke(m: Mask, pts: readonly Point[], width: number): void {
  const r = width / 2;
  if (pts.length === 1) capsule(m, pts[0], pts[0], r);
  for (let i = 0; i + 1 < pts.length; i++) capsule(m, pts[i], pts[i + 1], r);
}

/** Rasterises `shapes` (image pixels) into a width x height mask; parts outside the image are dropped. */
export function rasterizeShapes(shapes: readonly Shape[], width: number, height: number, into = newMask(width, height)): Mask {
  for (const s of shapes) {
    if (s.type === "rect") rect(into, s);
    else if (s.type === "polygon") polygon(into, s.points);
    else stroke(into, s.points, s.width);
  }
  return into;
}
