/**
 * HD strategies and mask tools without a model: connected regions, the crop planner (per region,
 * edge shifting, merging), shape rasterisation, windowed mask operations and EXIF orientation,
 * with fast-check properties for the rasteriser and the planner.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { componentBoxes, mergeOverlapping } from "../../shared/imaging/components.ts";
import { featherFill } from "../../shared/imaging/composite.ts";
import { jpegOrientation, orientImage, orientMask, withExifOrientation } from "../../shared/imaging/exif.ts";
import { dilate, erode, featherWeights, featherWeightsIn } from "../../shared/imaging/mask.ts";
import { inpaintPipeline } from "../../shared/imaging/pipeline.ts";
import { planRegions } from "../../shared/imaging/plan.ts";
import { rasterizeShapes } from "../../shared/imaging/rasterize.ts";
import { type Box, type Mask, newImage, newMask, type RgbaImage } from "../../shared/imaging/types.ts";
import { InpaintOptions } from "../../shared/schemas/options.ts";
import type { Shape } from "../../shared/schemas/shapes.ts";

const o = InpaintOptions.parse({});
const inBox = (x: number, y: number, b: Box) => x >= b.x && x < b.x + b.width && y >= b.y && y < b.y + b.height;

function fillBox(m: Mask, b: Box): Mask {
  for (let y = b.y; y < b.y + b.height; y++) m.data.fill(1, y * m.width + b.x, y * m.width + b.x + b.width);
  return m;
}

/** Whole-image reference implementations (brute force) for the windowed ones. */
function bruteDistanceOp(m: Mask, r: number, grow: boolean): Mask {
  const out = newMask(m.width, m.height);
  for (let y = 0; y < m.height; y++)
    for (let x = 0; x < m.width; x++) {
      let near = false;
      for (let v = Math.max(0, y - r); v <= Math.min(m.height - 1, y + r) && !near; v++)
        for (let u = Math.max(0, x - r); u <= Math.min(m.width - 1, x + r) && !near; u++)
          if ((u - x) ** 2 + (v - y) ** 2 <= r * r && m.data[v * m.width + u] === (grow ? 1 : 0)) near = true;
      out.data[y * m.width + x] = grow ? +near : +(m.data[y * m.width + x] === 1 && !near);
    }
  return out;
}

describe("connected regions", () => {
  it("finds one box per 8-connected blob; a diagonal touch is one blob", () => {
    const m = newMask(40, 30);
    fillBox(m, { x: 2, y: 3, width: 4, height: 2 });
    fillBox(m, { x: 30, y: 20, width: 5, height: 6 });
    m.data[5 * 40 + 6] = 1; // touches the first blob diagonally
    const boxes = componentBoxes(m).sort((a, b) => a.x - b.x);
    expect(boxes).toEqual([
      { x: 2, y: 3, width: 5, height: 3 },
      { x: 30, y: 20, width: 5, height: 6 },
    ]);
  });

  it("a U shape is one region (runs merge below)", () => {
    const m = newMask(10, 10);
    fillBox(m, { x: 1, y: 1, width: 1, height: 6 });
    fillBox(m, { x: 6, y: 1, width: 1, height: 6 });
    fillBox(m, { x: 1, y: 6, width: 6, height: 1 });
    expect(componentBoxes(m)).toEqual([{ x: 1, y: 1, width: 6, height: 6 }]);
  });

  it("falls back to one box of all holes beyond maxRuns", () => {
    const m = newMask(20, 20);
    for (let i = 0; i < 400; i += 2) m.data[i] = 1;
    expect(componentBoxes(m, 10)).toEqual([{ x: 0, y: 0, width: 19, height: 20 }]); // even columns only
  });

  it("merges overlapping boxes transitively, leaves disjoint ones", () => {
    const merged = mergeOverlapping([
      { x: 0, y: 0, width: 10, height: 10 },
      { x: 50, y: 50, width: 5, height: 5 },
      { x: 9, y: 9, width: 10, height: 10 },
      { x: 18, y: 0, width: 3, height: 3 }, // overlaps only the union of the first and third
    ]);
    expect(merged).toEqual([
      { x: 0, y: 0, width: 21, height: 19 },
      { x: 50, y: 50, width: 5, height: 5 },
    ]);
  });
});

describe("crop planner (hand-checked)", () => {
  it("two distant scribbles on a 4000x3000 image: two small boxes of hole + 2 x 128", () => {
    const holes = [
      { x: 500, y: 400, width: 60, height: 8 },
      { x: 3000, y: 2000, width: 10, height: 90 },
    ];
    const r = planRegions(4000, 3000, holes, o);
    expect(r.map((x) => x.box)).toEqual([
      { x: 372, y: 272, width: 316, height: 264 }, // centred: 500 + 30 - 158, 400 + 4 - 132
      { x: 2872, y: 1872, width: 266, height: 346 },
    ]);
    expect(r.every((x) => x.workWidth === x.box.width && x.workHeight === x.box.height)).toBe(true);
  });

  it("a hole at the corner: the box shifts inward, keeps its full size", () => {
    const [r] = planRegions(4000, 3000, [{ x: 3995, y: 2, width: 5, height: 5 }], o);
    expect(r.box).toEqual({ x: 4000 - 261, y: 0, width: 261, height: 261 });
  });

  it("two scribbles closer than 2 x margin: one merged region", () => {
    const r = planRegions(
      4000,
      3000,
      [
        { x: 1000, y: 1000, width: 10, height: 10 },
        { x: 1200, y: 1000, width: 10, height: 10 },
      ],
      o,
    );
    expect(r.map((x) => x.box)).toEqual([{ x: 872, y: 872, width: 466, height: 266 }]);
  });

  it("resize and original: one region whatever the holes", () => {
    const holes = [
      { x: 10, y: 10, width: 5, height: 5 },
      { x: 3000, y: 2000, width: 5, height: 5 },
    ];
    expect(planRegions(4000, 3000, holes, { ...o, hd_strategy: "resize" })).toEqual([
      { box: { x: 0, y: 0, width: 4000, height: 3000 }, workWidth: 1280, workHeight: 960 },
    ]);
    expect(planRegions(4000, 3000, holes, { ...o, hd_strategy: "original" })).toEqual([
      { box: { x: 0, y: 0, width: 4000, height: 3000 }, workWidth: 4000, workHeight: 3000 },
    ]);
  });

  const blobs = fc.array(
    fc.record({
      x: fc.nat({ max: 1190 }),
      y: fc.nat({ max: 890 }),
      width: fc.integer({ min: 1, max: 10 }),
      height: fc.integer({ min: 1, max: 10 }),
    }),
    { minLength: 1, maxLength: 8 },
  );

  it("property: every hole pixel lies in exactly one working region", () => {
    fc.assert(
      fc.property(blobs, fc.integer({ min: 0, max: 200 }), (bs, margin) => {
        const m = newMask(1200, 900);
        for (const b of bs) fillBox(m, b);
        const regions = planRegions(1200, 900, componentBoxes(m), { ...o, hd_strategy_crop_margin: margin });
        for (let i = 0; i < m.data.length; i++) {
          if (!m.data[i]) continue;
          const n = regions.filter((r) => inBox(i % 1200, Math.floor(i / 1200), r.box)).length;
          if (n !== 1) return false;
        }
        return regions.every(
          (r) => r.box.x >= 0 && r.box.y >= 0 && r.box.x + r.box.width <= 1200 && r.box.y + r.box.height <= 900,
        );
      }),
      { numRuns: 60 },
    );
  });

  it("property: nothing outside the (dilated) mask changes, whatever the model returns", async () => {
    await fc.assert(
      fc.asyncProperty(blobs, fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 4 }), async (bs, dil, feather) => {
        const img = newImage(1200, 900);
        for (let i = 0; i < img.data.length; i++) img.data[i] = (i * 7) & 255;
        const before = img.data.slice();
        const m = newMask(1200, 900);
        for (const b of bs) fillBox(m, b);
        const garbage = async (part: RgbaImage) => {
          const out = newImage(part.width, part.height);
          out.data.fill(1);
          return out;
        };
        const { mask } = await inpaintPipeline(img, m, { ...o, dilate: dil }, garbage, undefined, {
          inPlace: true,
          post: (f, whole, pm) => featherFill(f.image, f.region.box, whole, pm, feather),
        });
        for (let i = 0; i < mask.data.length; i++) {
          if (mask.data[i]) continue;
          for (let c = 0; c < 4; c++) if (img.data[i * 4 + c] !== before[i * 4 + c]) return false;
        }
        return true;
      }),
      { numRuns: 15 },
    );
  });
});

describe("windowed mask operations equal the whole-image ones", () => {
  it("property: dilate / erode against brute force", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            x: fc.nat({ max: 47 }),
            y: fc.nat({ max: 35 }),
            width: fc.integer({ min: 1, max: 9 }),
            height: fc.integer({ min: 1, max: 9 }),
          }),
          { maxLength: 5 },
        ),
        fc.integer({ min: 1, max: 6 }),
        (bs, r) => {
          const m = newMask(48, 36);
          for (const b of bs) fillBox(m, { ...b, width: Math.min(b.width, 48 - b.x), height: Math.min(b.height, 36 - b.y) });
          return (
            dilate(m, r).data.join() === bruteDistanceOp(m, r, true).data.join() &&
            erode(m, r).data.join() === bruteDistanceOp(m, r, false).data.join()
          );
        },
      ),
      { numRuns: 80 },
    );
  });

  it("feather weights in a box equal the whole-image ones", () => {
    const m = fillBox(newMask(60, 40), { x: 10, y: 5, width: 30, height: 20 });
    const box = { x: 8, y: 4, width: 20, height: 15 };
    const whole = featherWeights(m, 5);
    const local = featherWeightsIn(m, box, 5);
    for (let y = 0; y < box.height; y++)
      for (let x = 0; x < box.width; x++) expect(local[y * box.width + x]).toBe(whole[(box.y + y) * 60 + box.x + x]);
  });
});

describe("shape rasteriser", () => {
  const count = (m: Mask) => m.data.reduce((a, b) => a + b, 0);

  it("a rect covers exactly [x, x + width) x [y, y + height)", () => {
    const m = rasterizeShapes([{ type: "rect", x: 10, y: 20, width: 30, height: 40 }], 100, 100);
    expect(count(m)).toBe(1200);
    expect(m.data[20 * 100 + 10]).toBe(1);
    expect(m.data[59 * 100 + 39]).toBe(1);
    expect(m.data[60 * 100 + 39]).toBe(0);
    expect(m.data[20 * 100 + 40]).toBe(0);
  });

  it("a 10-px-wide horizontal stroke covers 10 rows and round caps", () => {
    const m = rasterizeShapes(
      [
        {
          type: "stroke",
          points: [
            [20, 50],
            [80, 50],
          ],
          width: 10,
        },
      ],
      100,
      100,
    );
    for (let y = 0; y < 100; y++) {
      const row = m.data.subarray(y * 100, y * 100 + 100);
      expect(row[50]).toBe(y >= 45 && y <= 54 ? 1 : 0); // centres 45.5 .. 54.5 are within 5 of y = 50
    }
    // The caps are half disks: the centre row reaches 5 px beyond each end, the rows at the rim do not.
    expect([m.data[50 * 100 + 15], m.data[50 * 100 + 14], m.data[50 * 100 + 84], m.data[50 * 100 + 85]]).toEqual([1, 0, 1, 0]);
    expect([m.data[45 * 100 + 17], m.data[45 * 100 + 18]]).toEqual([0, 1]); // |(2.5, 4.5)| > 5 > |(1.5, 4.5)|
  });

  it("polygons use the nonzero rule: a doubly wound star centre is filled", () => {
    const star: Shape = {
      type: "polygon",
      points: [
        [50, 5],
        [79, 95],
        [3, 39],
        [97, 39],
        [21, 95],
      ],
    };
    const m = rasterizeShapes([star], 100, 100);
    expect(m.data[50 * 100 + 50]).toBe(1);
    const tri = rasterizeShapes(
      [
        {
          type: "polygon",
          points: [
            [0, 0],
            [10, 0],
            [0, 10],
          ],
        },
      ],
      20,
      20,
    );
    expect(count(tri)).toBe(45); // centres with (x + 0.5) + (y + 0.5) < 10: x + y <= 8
  });

  it("shapes outside the image are clipped, not an error", () => {
    const m = rasterizeShapes(
      [
        { type: "rect", x: -50, y: -50, width: 60, height: 60 },
        { type: "stroke", points: [[500, 500]], width: 3 },
      ],
      20,
      20,
    );
    expect(count(m)).toBe(100);
  });

  it("property: a stroke covers exactly the pixels whose centre is within width/2 of the polyline", () => {
    const pt = fc.tuple(fc.double({ min: -5, max: 45, noNaN: true }), fc.double({ min: -5, max: 35, noNaN: true }));
    fc.assert(
      fc.property(fc.array(pt, { minLength: 1, maxLength: 4 }), fc.double({ min: 0.5, max: 12, noNaN: true }), (pts, w) => {
        const m = rasterizeShapes([{ type: "stroke", points: pts as [number, number][], width: w }], 40, 30);
        const segDist = (px: number, py: number, a: number[], b: number[]) => {
          const dx = b[0] - a[0];
          const dy = b[1] - a[1];
          const l2 = dx * dx + dy * dy;
          const t = l2 ? Math.max(0, Math.min(1, ((px - a[0]) * dx + (py - a[1]) * dy) / l2)) : 0;
          return Math.hypot(px - a[0] - t * dx, py - a[1] - t * dy);
        };
        for (let y = 0; y < 30; y++)
          for (let x = 0; x < 40; x++) {
            let d = Number.POSITIVE_INFINITY;
            for (let i = 0; i < Math.max(1, pts.length - 1); i++)
              d = Math.min(d, segDist(x + 0.5, y + 0.5, pts[i], pts[Math.min(i + 1, pts.length - 1)]));
            const want = d <= w / 2;
            // Centres within 1e-6 of the rim may go either way (floating point).
            if (Math.abs(d - w / 2) > 1e-6 && m.data[y * 40 + x] !== +want) return false;
          }
        return true;
      }),
      { numRuns: 150 },
    );
  });

  it("property: a polygon covers the pixels whose centre has a nonzero winding number", () => {
    const pt = fc.tuple(fc.double({ min: -3, max: 33, noNaN: true }), fc.double({ min: -3, max: 23, noNaN: true }));
    fc.assert(
      fc.property(fc.array(pt, { minLength: 3, maxLength: 6 }), (pts) => {
        const m = rasterizeShapes([{ type: "polygon", points: pts as [number, number][] }], 30, 20);
        for (let y = 0; y < 20; y++)
          for (let x = 0; x < 30; x++) {
            const [cx, cy] = [x + 0.5, y + 0.5];
            let wind = 0;
            let onEdge = false;
            for (let i = 0; i < pts.length; i++) {
              const [ax, ay] = pts[i];
              const [bx, by] = pts[(i + 1) % pts.length];
              const cross = (bx - ax) * (cy - ay) - (cx - ax) * (by - ay);
              if (Math.abs(cross) < 1e-6 * Math.hypot(bx - ax, by - ay) + 1e-9) onEdge = true;
              if (ay <= cy && by > cy && cross > 0) wind++;
              else if (by <= cy && ay > cy && cross < 0) wind--;
            }
            if (!onEdge && m.data[y * 30 + x] !== +(wind !== 0)) return false;
          }
        return true;
      }),
      { numRuns: 150 },
    );
  });
});

describe("EXIF orientation", () => {
  /** 3x2 image whose red channel numbers the pixels in stored order. */
  const img = (): RgbaImage => {
    const i = newImage(3, 2);
    for (let p = 0; p < 6; p++) i.data[p * 4] = p;
    return i;
  };
  const reds = (i: RgbaImage) => Array.from({ length: i.width * i.height }, (_, p) => i.data[p * 4]);

  it("maps every orientation as EXIF defines it", () => {
    // Stored:  0 1 2 / 3 4 5
    expect(reds(orientImage(img(), 1))).toEqual([0, 1, 2, 3, 4, 5]);
    expect(reds(orientImage(img(), 2))).toEqual([2, 1, 0, 5, 4, 3]);
    expect(reds(orientImage(img(), 3))).toEqual([5, 4, 3, 2, 1, 0]);
    expect(reds(orientImage(img(), 4))).toEqual([3, 4, 5, 0, 1, 2]);
    const r6 = orientImage(img(), 6); // 90 degrees clockwise: 3 0 / 4 1 / 5 2
    expect([r6.width, r6.height, ...reds(r6)]).toEqual([2, 3, 3, 0, 4, 1, 5, 2]);
    expect(reds(orientImage(img(), 8))).toEqual([2, 5, 1, 4, 0, 3]);
    expect(reds(orientImage(img(), 5))).toEqual([0, 3, 1, 4, 2, 5]);
    expect(reds(orientImage(img(), 7))).toEqual([5, 2, 4, 1, 3, 0]);
    const m = newMask(3, 2);
    m.data[2] = 1;
    expect(Array.from(orientMask(m, 6).data)).toEqual([0, 0, 0, 0, 0, 1]); // stored (2, 0) -> upright (1, 2)
  });

  it("reads the orientation tag from a JPEG's APP1 segment (1 when absent)", () => {
    const jpeg = new Uint8Array([0xff, 0xd8, 0xff, 0xdb, 0, 2, 0xff, 0xd9]);
    expect(jpegOrientation(jpeg)).toBe(1);
    for (const v of [3, 6, 8]) expect(jpegOrientation(withExifOrientation(jpeg, v))).toBe(v);
  });
});
