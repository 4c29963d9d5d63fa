/**
 * Mask shapes (shared/schemas/shapes.ts) to a binary mask. A pixel is a hole when its centre
 * (x + 0.5, y + 0.5) is inside a shape: rectangles as [x, x + width) x [y, y + height), polygons
 * by the nonzero winding rule (as SVG and canvas fill by default), strokes as every point within
 * width / 2 of the polyline (round joins and caps).
 *
 * Work is bounded before it starts: `shapesCost` counts, from the points alone, the rows, edge
 * crossings and pixels the rasteriser will touch, and `checkShapesCost` refuses (422
 * mask-too-complex) a document over the budget, which scales with the image. Polygons are filled
 * with an active edge table, so a row costs the edges that cross it, not every edge of the
 * polygon: a 10,000-point polygon that covers nothing costs its crossings, not 10,000 x rows.
 */
import { Problem } from "../problems.ts";
import type { Point, Shape } from "../schemas/shapes.ts";
import { type Mask, newMask } from "./types.ts";

/** Sets pixels [ceil(xl - 0.5), floor(xr - 0.5)] of row y: the pixels whose centres lie in [xl, xr]. */
function span(m: Mask, y: number, xl: number, xr: number): void {
  const a = Math.max(0, Math.ceil(xl - 0.5));
  const b = Math.min(m.width - 1, Math.floor(xr - 0.5));
  if (a <= b) m.data.fill(1, y * m.width + a, y * m.width + b + 1);
}

/** Rows (or columns, with `size` the width) whose centres lie in [lo, hi], clipped to [0, size). */
const rows = (size: number, lo: number, hi: number): [number, number] => [
  Math.max(0, Math.ceil(lo - 0.5)),
  Math.min(size - 1, Math.floor(hi - 0.5)),
];
const count = ([a, b]: [number, number]) => Math.max(0, b - a + 1);

function rectRows(s: Extract<Shape, { type: "rect" }>, m: { width: number; height: number }) {
  // Half-open: centre c is inside when x <= c < x + width.
  return {
    y0: Math.max(0, Math.ceil(s.y - 0.5)),
    y1: Math.min(m.height, Math.ceil(s.y + s.height - 0.5)),
    x0: Math.max(0, Math.ceil(s.x - 0.5)),
    x1: Math.min(m.width, Math.ceil(s.x + s.width - 0.5)),
  };
}

function rect(m: Mask, s: Extract<Shape, { type: "rect" }>): void {
  const { y0, y1, x0, x1 } = rectRows(s, m);
  for (let y = y0; y < y1; y++) if (x0 < x1) m.data.fill(1, y * m.width + x0, y * m.width + x1);
}

/**
 * Rows whose centre an edge from ay to by crosses: lo <= y + 0.5 < hi (half-open, so a vertex
 * shared by two edges counts once), clipped to the image. Empty when first > last.
 */
function edgeRows(ay: number, by: number, height: number): [number, number] {
  const lo = Math.min(ay, by);
  const hi = Math.max(ay, by);
  if (lo === hi) return [0, -1];
  // ceil(v - 0.5) can round the wrong way for huge or odd values: settle it with the exact test.
  let first = Math.max(0, Math.ceil(lo - 0.5));
  while (first > 0 && lo <= first - 0.5) first--;
  while (first < height && !(lo <= first + 0.5)) first++;
  let last = Math.min(height - 1, Math.ceil(hi - 0.5) - 1);
  while (last >= 0 && !(last + 0.5 < hi)) last--;
  while (last + 1 < height && last + 1.5 < hi) last++;
  return [first, last];
}

function polygon(m: Mask, pts: readonly Point[]): void {
  const n = pts.length;
  // Edge table: each edge listed under the first row it crosses (a linked list per row).
  const head = new Int32Array(m.height).fill(-1);
  const next = new Int32Array(n);
  const last = new Int32Array(n);
  let top = m.height;
  let bottom = -1;
  for (let i = 0; i < n; i++) {
    const [f, l] = edgeRows(pts[i][1], pts[(i + 1) % n][1], m.height);
    if (f > l) continue;
    top = Math.min(top, f);
    bottom = Math.max(bottom, l);
    last[i] = l;
    next[i] = head[f];
    head[f] = i;
  }
  const active = new Int32Array(n);
  let count = 0;
  // Crossings of the row by upward and downward edges, each sorted on its own: the winding
  // number at x is (ups left of x) - (downs left of x), so no (x, direction) pairs need sorting.
  const ups = new Float64Array(n);
  const downs = new Float64Array(n);
  for (let y = top; y <= bottom; y++) {
    for (let e = head[y]; e !== -1; e = next[e]) active[count++] = e;
    if (count === 0) continue;
    const cy = y + 0.5;
    let nu = 0;
    let nd = 0;
    let kept = 0;
    for (let k = 0; k < count; k++) {
      const i = active[k];
      const [ax, ay] = pts[i];
      const [bx, by] = pts[(i + 1) % n];
      const x = ax + ((cy - ay) * (bx - ax)) / (by - ay);
      if (by > ay) ups[nu++] = x;
      else downs[nd++] = x;
      if (last[i] > y) active[kept++] = i;
    }
    count = kept;
    const u = ups.subarray(0, nu).sort();
    const d = downs.subarray(0, nd).sort();
    // Merge: walk the crossings left to right; fill [x_k, x_k+1) wherever the winding is nonzero.
    let wind = 0;
    let iu = 0;
    let id = 0;
    while (iu + id < nu + nd - 1) {
      let x: number;
      if (id >= nd || (iu < nu && u[iu] <= d[id])) {
        x = u[iu++];
        wind++;
      } else {
        x = d[id++];
        wind--;
      }
      const nextX = id >= nd || (iu < nu && u[iu] <= d[id]) ? u[iu] : d[id];
      // Centres in [x_k, x_k+1): the right edge is exclusive, as for rectangles.
      if (wind !== 0) span(m, y, x, nextX - 1e-9);
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
  const [y0, y1] = rows(m.height, Math.min(a[1], b[1]) - r, Math.max(a[1], b[1]) + r);
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  const len2 = dx * dx + dy * dy;
  const len = Math.sqrt(len2);
  const [ax, ay] = a;
  const [bx, by] = b;
  const r2 = r * r;
  for (let y = y0; y <= y1; y++) {
    const cy = y + 0.5;
    let left = Infinity;
    let right = -Infinity;
    // The end disks.
    const ha = r2 - (cy - ay) * (cy - ay);
    if (ha >= 0) {
      const s = Math.sqrt(ha);
      left = ax - s;
      right = ax + s;
    }
    const hb = r2 - (cy - by) * (cy - by);
    if (hb >= 0) {
      const s = Math.sqrt(hb);
      left = Math.min(left, bx - s);
      right = Math.max(right, bx + s);
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

/** What rasterising a document costs on a width x height image, counted from its points. */
export interface ShapesCost {
  /** Points over all shapes. */
  points: number;
  /** Rows visited: per rectangle, polygon and stroke segment, the image rows it spans. */
  rows: number;
  /** Polygon edges times the rows each crosses: the active edge table's work. */
  crossings: number;
  /** Pixels that may be written (overlaps counted each time): rectangles and stroke segments by their row spans, polygons by their bounding box. */
  pixels: number;
  /** pixels + ROW_COST x rows + CROSSING_COST x crossings: the budget's unit, about one pixel write. */
  work: number;
}

/**
 * What a visited row and a polygon edge crossing cost, in pixel writes (square roots and
 * divisions for a capsule row; an interpolation, a sort slot and a span for a crossing). Set so
 * that a unit takes about the same time whatever the shapes: about 1 to 3 ns on the 2-core EPYC
 * (`npm run reliability` draws the slowest accepted documents on an 8 MP image and prints it).
 */
export const ROW_COST = 32;
export const CROSSING_COST = 128;

/** The most points a document may have over all its shapes. */
export const MAX_SHAPE_POINTS = 10_000;

/**
 * The work allowed for one document: four full-image passes, and at least 2^22 (a few
 * milliseconds) on small images. The rest of a call costs several passes over the image anyway.
 */
export const maxShapesWork = (width: number, height: number): number => Math.max(4 * width * height, 1 << 22);

/** The cost of rasterising `shapes` on a width x height image, in O(points), without rasterising. */
export function shapesCost(shapes: readonly Shape[], width: number, height: number): ShapesCost {
  let points = 0;
  let rowCount = 0;
  let crossings = 0;
  let pixels = 0;
  for (const s of shapes) {
    if (s.type === "rect") {
      const { y0, y1, x0, x1 } = rectRows(s, { width, height });
      const r = Math.max(0, y1 - y0);
      rowCount += r;
      pixels += r * Math.max(0, x1 - x0);
      continue;
    }
    points += s.points.length;
    if (s.type === "polygon") {
      let x0 = Infinity;
      let x1 = -Infinity;
      let y0 = Infinity;
      let y1 = -Infinity;
      for (let i = 0; i < s.points.length; i++) {
        const [x, y] = s.points[i];
        crossings += count(edgeRows(y, s.points[(i + 1) % s.points.length][1], height));
        x0 = Math.min(x0, x);
        x1 = Math.max(x1, x);
        y0 = Math.min(y0, y);
        y1 = Math.max(y1, y);
      }
      const r = count(rows(height, y0, y1));
      rowCount += r;
      pixels += r * count(rows(width, x0, x1));
      continue;
    }
    const rad = s.width / 2;
    const segments = Math.max(1, s.points.length - 1);
    for (let i = 0; i < segments; i++) {
      const a = s.points[i];
      const b = s.points[Math.min(i + 1, s.points.length - 1)];
      const dx = Math.abs(b[0] - a[0]);
      const dy = Math.abs(b[1] - a[1]);
      const r = count(rows(height, Math.min(a[1], b[1]) - rad, Math.max(a[1], b[1]) + rad));
      // A row of the capsule is at most its bounding box wide, and at most the width of its band
      // (s.width x length / |dy|) plus the pixel that rounding may add.
      const bandWidth = dy > 0 ? (s.width * Math.hypot(dx, dy)) / dy : Infinity;
      const perRow = Math.min(width, Math.ceil(Math.min(dx + s.width, bandWidth)) + 1);
      rowCount += r;
      pixels += r * perRow;
    }
  }
  return { points, rows: rowCount, crossings, pixels, work: pixels + ROW_COST * rowCount + CROSSING_COST * crossings };
}

/** 422 mask-too-complex when `shapes` exceed the point limit or the work budget on this image. */
export function checkShapesCost(shapes: readonly Shape[], width: number, height: number): ShapesCost {
  const cost = shapesCost(shapes, width, height);
  const max = maxShapesWork(width, height);
  if (cost.points > MAX_SHAPE_POINTS)
    throw new Problem(
      "mask-too-complex",
      `mask_shapes has ${cost.points} points over all its shapes; the limit is ${MAX_SHAPE_POINTS}`,
      { points: cost.points, max_points: MAX_SHAPE_POINTS },
    );
  if (cost.work > max)
    throw new Problem(
      "mask-too-complex",
      `mask_shapes would take ${cost.work} units of work to draw on this ${width}x${height} image (${cost.pixels} pixel writes, ` +
        `${cost.rows} rows, ${cost.crossings} polygon edge crossings); the limit is ${max}: use fewer, shorter, ` +
        "thinner or less overlapping shapes, or a mask PNG",
      { work: cost.work, max_work: max, pixels: cost.pixels, rows: cost.rows, crossings: cost.crossings },
    );
  return cost;
}

/**
 * Rasterises `shapes` (image pixels) into a width x height mask; parts outside the image are
 * dropped. Refuses (422 mask-too-complex) a document over the budget before drawing anything.
 */
export function rasterizeShapes(shapes: readonly Shape[], width: number, height: number, into = newMask(width, height)): Mask {
  checkShapesCost(shapes, width, height);
  for (const s of shapes) {
    if (s.type === "rect") rect(into, s);
    else if (s.type === "polygon") polygon(into, s.points);
    else stroke(into, s.points, s.width);
  }
  return into;
}
