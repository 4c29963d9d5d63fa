import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compositeInto } from "../../shared/imaging/composite.ts";
import { dilate, erode, featherWeights, holeBox, holeCount, maskFromImage } from "../../shared/imaging/mask.ts";
import { inpaintPipeline } from "../../shared/imaging/pipeline.ts";
import { expandBox, fitWithin, planRegions } from "../../shared/imaging/plan.ts";
import { cropImage, resizeImage, resizeMask } from "../../shared/imaging/resize.ts";
import { looksComplete, readImageHeader } from "../../shared/imaging/sniff.ts";
import { fromModelOutput, padTo, toModelInput } from "../../shared/imaging/tensor.ts";
import { type Mask, newImage, newMask, type RgbaImage } from "../../shared/imaging/types.ts";
import { InpaintOptions } from "../../shared/schemas/options.ts";

const noise = (w: number, h: number, seed = 1): RgbaImage => {
  const img = newImage(w, h);
  let s = seed;
  for (let i = 0; i < img.data.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    img.data[i] = i % 4 === 3 ? 255 : s >>> 24;
  }
  return img;
};
const rectMask = (w: number, h: number, x: number, y: number, rw: number, rh: number): Mask => {
  const m = newMask(w, h);
  for (let j = y; j < y + rh; j++) m.data.fill(1, j * w + x, j * w + x + rw);
  return m;
};

describe("mask binarisation", () => {
  it("luminance > 127 is a hole; 127 is not; invert flips", () => {
    const img = newImage(3, 1);
    img.data.set([127, 127, 127, 255, 128, 128, 128, 255, 255, 255, 255, 0]);
    expect([...maskFromImage(img).data]).toEqual([0, 1, 1]);
    expect([...maskFromImage(img, "luminance", true).data]).toEqual([1, 0, 0]);
    expect([...maskFromImage(img, "alpha").data]).toEqual([0, 0, 1]);
  });
});

describe("dilate / erode", () => {
  it("grow and shrink a single pixel by a Euclidean radius", () => {
    const m = rectMask(21, 21, 10, 10, 1, 1);
    const d = dilate(m, 3);
    expect(holeCount(d)).toBe(29); // lattice points with x^2 + y^2 <= 9
    expect(d.data[10 * 21 + 13]).toBe(1);
    expect(d.data[13 * 21 + 13]).toBe(0);
    expect(holeCount(erode(d, 3))).toBe(1);
    expect(dilate(m, 0)).toBe(m);
  });

  it("erode removes holes thinner than twice the radius", () => {
    const m = rectMask(20, 20, 2, 2, 3, 16);
    expect(holeCount(erode(m, 2))).toBe(0);
    expect(holeCount(erode(m, 1))).toBe(14);
  });
});

describe("holeBox and feathering", () => {
  it("finds the tight box and null for an empty mask", () => {
    expect(holeBox(rectMask(30, 20, 4, 5, 6, 7))).toEqual({ x: 4, y: 5, width: 6, height: 7 });
    expect(holeBox(newMask(4, 4))).toBeNull();
  });

  it("feather weights are 0 outside, ramp inside and reach 1 at the given depth", () => {
    const m = rectMask(40, 40, 10, 10, 20, 20);
    const w = featherWeights(m, 4);
    expect(w[5 * 40 + 5]).toBe(0);
    expect(w[10 * 40 + 20]).toBeCloseTo(0.25); // edge pixel: distance 1 to a known pixel
    expect(w[12 * 40 + 20]).toBeCloseTo(0.75);
    expect(w[20 * 40 + 20]).toBe(1);
  });
});

describe("resize", () => {
  it("keeps a constant image constant at any scale", () => {
    const img = newImage(37, 23);
    img.data.fill(200);
    for (const [w, h] of [
      [10, 7],
      [74, 46],
      [37, 23],
      [3, 100],
    ]) {
      const r = resizeImage(img, w, h);
      expect(r.width).toBe(w);
      expect(new Set(r.data)).toEqual(new Set([200]));
    }
  });

  it("downscaling averages (a 2x2 checker becomes mid-grey)", () => {
    const img = newImage(8, 8);
    for (let i = 0; i < 64; i++) img.data.fill(((i % 8) + Math.floor(i / 8)) % 2 ? 255 : 0, i * 4, i * 4 + 4);
    const r = resizeImage(img, 2, 2);
    for (let i = 0; i < 4; i++) expect(Math.abs(r.data[i * 4] - 128)).toBeLessThanOrEqual(2);
  });

  it("mask resize keeps one-pixel holes (any coverage is a hole)", () => {
    const m = rectMask(100, 100, 50, 0, 1, 100);
    const r = resizeMask(m, 25, 25);
    expect(holeCount(r)).toBeGreaterThanOrEqual(25);
  });
});

describe("planner", () => {
  const o = InpaintOptions.parse({});

  it("original and small images: one region, the whole image, unscaled", () => {
    const hole = { x: 10, y: 10, width: 5, height: 5 };
    expect(planRegions(640, 480, [hole], o)).toEqual([
      { box: { x: 0, y: 0, width: 640, height: 480 }, workWidth: 640, workHeight: 480 },
    ]);
    expect(planRegions(4000, 3000, [hole], { ...o, hd_strategy: "original" })[0].workWidth).toBe(4000);
    expect(planRegions(640, 480, [], o)).toEqual([]);
  });

  it("resize brings the longer side to the limit", () => {
    const r = planRegions(4000, 3000, [{ x: 1, y: 1, width: 2, height: 2 }], { ...o, hd_strategy: "resize" });
    expect([r[0].workWidth, r[0].workHeight]).toEqual([1280, 960]);
    expect(fitWithin(100, 50, 1280)).toEqual([100, 50]);
  });

  it("crop grows each hole by the margin and shifts boxes at the edge inward", () => {
    const r = planRegions(4000, 3000, [{ x: 0, y: 2990, width: 20, height: 10 }], o);
    expect(r[0].box).toEqual({ x: 0, y: 3000 - 266, width: 276, height: 266 });
    expect(expandBox({ x: 3990, y: 0, width: 10, height: 10 }, 128, 4000, 3000)).toEqual({
      x: 4000 - 266,
      y: 0,
      width: 266,
      height: 266,
    });
  });

  it("property: a crop box lies inside the image and contains its hole", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 801, max: 5000 }),
        fc.integer({ min: 801, max: 5000 }),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 1, max: 400 }),
        fc.integer({ min: 1, max: 400 }),
        (W, H, a, b, w, h) => {
          const hole = { x: a % (W - w), y: b % (H - h), width: Math.min(w, W), height: Math.min(h, H) };
          const [r] = planRegions(W, H, [hole], o);
          const B = r.box;
          return (
            B.x >= 0 &&
            B.y >= 0 &&
            B.x + B.width <= W &&
            B.y + B.height <= H &&
            B.x <= hole.x &&
            B.y <= hole.y &&
            B.x + B.width >= hole.x + hole.width &&
            B.y + B.height >= hole.y + hole.height &&
            Math.max(r.workWidth, r.workHeight) <= o.hd_strategy_resize_limit
          );
        },
      ),
    );
  });
});

describe("model tensors", () => {
  it("pads to a multiple of 4 by replicating edges, marks padding known, zeroes holes", () => {
    const img = noise(5, 3);
    const m = rectMask(5, 3, 1, 1, 1, 1);
    const t = toModelInput(img, m);
    expect([t.width, t.height]).toEqual([8, 4]);
    const plane = 32;
    expect(t.mask[1 * 8 + 1]).toBe(1);
    expect(t.mask.reduce((a, b) => a + b)).toBe(1);
    expect(t.image[1 * 8 + 1]).toBe(0);
    expect(t.image[0 * 8 + 7]).toBeCloseTo(img.data[4 * 4] / 127.5 - 1); // replicated right edge
    expect(t.image[plane + 3 * 8]).toBeCloseTo(img.data[2 * 5 * 4 + 1] / 127.5 - 1); // replicated bottom, G
    expect(padTo(260)).toBe(260);
  });

  it("round-trips known pixels exactly through [-1,1] and crops the padding", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 13 }), fc.integer({ min: 1, max: 13 }), fc.nat(), (w, h, seed) => {
        const img = noise(w, h, seed);
        const t = toModelInput(img, newMask(w, h));
        const back = fromModelOutput(t.image, t.width, t.height, w, h);
        return back.data.every((v, i) => v === img.data[i]);
      }),
    );
  });
});

describe("composite and pipeline", () => {
  it("only hole pixels change; alpha is untouched", () => {
    const target = noise(10, 10, 3);
    target.data[3] = 7;
    const before = target.data.slice();
    const patch = newImage(4, 4);
    patch.data.fill(9);
    const m = rectMask(10, 10, 3, 3, 2, 2);
    compositeInto(target, patch, { x: 2, y: 2, width: 4, height: 4 }, m);
    for (let i = 0; i < 100; i++) {
      for (let c = 0; c < 4; c++) {
        const inHole = m.data[i] === 1 && c < 3;
        expect(target.data[i * 4 + c]).toBe(inHole ? 9 : before[i * 4 + c]);
      }
    }
  });

  it("property: whatever the model returns, pixels outside the dilated mask are unchanged", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 8, max: 40 }),
        fc.integer({ min: 8, max: 40 }),
        fc.constantFrom("original", "resize", "crop"),
        fc.integer({ min: 0, max: 3 }),
        fc.nat(),
        async (w, h, strategy, dil, seed) => {
          const img = noise(w, h, seed);
          const m = rectMask(w, h, seed % (w - 4), seed % (h - 4), 3, 3);
          // Tiny limits (below what the schema allows) so every strategy really crops or scales.
          const o = {
            ...InpaintOptions.parse({}),
            hd_strategy: strategy,
            dilate: dil,
            hd_strategy_crop_trigger_size: 16,
            hd_strategy_crop_margin: 4,
            hd_strategy_resize_limit: 16,
          };
          const garbage = async (part: RgbaImage) => {
            const r = newImage(part.width, part.height);
            r.data.fill(seed % 256);
            return r;
          };
          const { image, mask } = await inpaintPipeline(img, m, o, garbage);
          for (let i = 0; i < w * h; i++) {
            if (mask.data[i]) continue;
            for (let c = 0; c < 4; c++) if (image.data[i * 4 + c] !== img.data[i * 4 + c]) return false;
          }
          return image.width === w && image.height === h;
        },
      ),
      { numRuns: 60 },
    );
  });

  it("crops the working region out of a large image and pastes it back in place", async () => {
    const img = noise(1200, 900);
    const m = rectMask(1200, 900, 1000, 100, 10, 10);
    const seen: [number, number][] = [];
    const { image } = await inpaintPipeline(img, m, InpaintOptions.parse({}), async (part) => {
      seen.push([part.width, part.height]);
      const r = newImage(part.width, part.height);
      r.data.fill(42);
      return r;
    });
    expect(seen).toEqual([[266, 266]]);
    expect(image.data[(105 * 1200 + 1005) * 4]).toBe(42);
    expect(cropImage(image, { x: 0, y: 0, width: 2, height: 1 }).data).toEqual(img.data.slice(0, 8));
  });
});

describe("header sniffing", () => {
  it("reads PNG and JPEG sizes from the header alone", () => {
    const png = new Uint8Array(33);
    png.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
    new DataView(png.buffer).setUint32(16, 50000);
    new DataView(png.buffer).setUint32(20, 50000);
    expect(readImageHeader(png)).toEqual({ format: "png", width: 50000, height: 50000 });
    const jpeg = Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0, 4, 0, 0, 0xff, 0xc0, 0, 11, 8, 0x01, 0x2c, 0x02, 0x58, 3]);
    expect(readImageHeader(jpeg)).toEqual({ format: "jpeg", width: 600, height: 300 });
    expect(readImageHeader(new TextEncoder().encode("GIF89a...."))).toBeNull();
    expect(looksComplete(jpeg, "jpeg")).toBe(false);
    expect(looksComplete(Uint8Array.from([0xff, 0xd8, 0xff, 0xd9, 0, 0]), "jpeg")).toBe(true);
  });
});
