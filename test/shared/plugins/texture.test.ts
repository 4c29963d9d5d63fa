/**
 * The `texture` post-processor beyond the contract suite: the same request gives the same bytes
 * and only hole pixels change (several holes, a free-form stroke, a hole at the image's edge);
 * its work is counted from the mask before it runs and what runs stays within the count; over
 * the work bound texture=on is a 422 before any synthesis and texture=auto leaves the fill alone.
 * What it is for (texture into a smooth fill) is in post-processors.test.ts.
 */
import { describe, expect, it } from "vitest";
import { type Fill, finishFill } from "../../../shared/imaging/pipeline.ts";
import { cropImage } from "../../../shared/imaging/resize.ts";
import { planTexture, synthesizeTexture } from "../../../shared/imaging/texture.ts";
import { type Box, type Mask, newImage, newMask, type RgbaImage } from "../../../shared/imaging/types.ts";
import { MAX_POST_WORK, type PostProcessorHooks } from "../../../shared/plugins/contract.ts";
import { boundedPostProcessor, checkRequestPostWork } from "../../../shared/plugins/post-work.ts";
import { Problem } from "../../../shared/problems.ts";
import { options, pluginsOf, setUp } from "./setup.ts";

const [plugin] = pluginsOf("post-processor").filter((p) => p.name === "texture");

/** Stripes, a gradient and seeded noise (an LCG: the same photo every run). */
function photo(w: number, h: number): RgbaImage {
  const img = newImage(w, h);
  let s = 5;
  for (let i = 0; i < w * h; i++) {
    const x = i % w;
    const y = (i - x) / w;
    for (let c = 0; c < 3; c++) {
      s = (s * 1664525 + 1013904223) >>> 0;
      img.data[i * 4 + c] = 60 + (x % 5 < 2 ? 30 : 0) + y / 4 + c * 20 + ((s >>> 24) % 17);
    }
    img.data[i * 4 + 3] = 180 + (x % 60);
  }
  return img;
}

function rectMask(w: number, h: number, ...boxes: Box[]): Mask {
  const m = newMask(w, h);
  for (const b of boxes) for (let y = b.y; y < b.y + b.height; y++) m.data.fill(1, y * w + b.x, y * w + b.x + b.width);
  return m;
}

/** The model's stand-in: a flat fill in the hole, the photo elsewhere in the box. */
function flatFill(img: RgbaImage, box: Box, mask: Mask): Fill {
  const f = cropImage(img, box);
  for (let y = 0; y < box.height; y++)
    for (let x = 0; x < box.width; x++)
      if (mask.data[(box.y + y) * mask.width + box.x + x]) f.data.set([120, 110, 100], (y * box.width + x) * 4);
  return { region: { box, workWidth: box.width, workHeight: box.height }, image: f };
}

const sameBytes = (a: Uint8ClampedArray, b: Uint8ClampedArray) => a.length === b.length && a.every((v, i) => v === b[i]);

describe("texture: same bytes, hole pixels only", () => {
  const W = 200;
  const H = 90;
  const img = photo(W, H);
  // Three windows: a rectangle, a diagonal stroke joined to a rectangle, a hole at the image's corner.
  const mask = rectMask(
    W,
    H,
    { x: 10, y: 12, width: 14, height: 10 },
    { x: 140, y: 50, width: 20, height: 16 },
    { x: 0, y: 78, width: 9, height: 12 },
  );
  for (let t = 0; t < 40; t++) for (let d = -1; d <= 1; d++) mask.data[(40 + Math.floor(t / 2)) * W + 100 + t + d] = 1;
  const whole = { x: 0, y: 0, width: W, height: H };

  async function run(): Promise<RgbaImage> {
    const hooks = await setUp(plugin);
    const out = { width: W, height: H, data: img.data.slice() };
    await finishFill(out, mask, flatFill(img, whole, mask), (f, pic, m) => hooks.process(f, pic, m, options({ texture: "on" })));
    return out;
  }

  it("two runs give the same bytes; every pixel outside the hole is the original's, alpha everywhere", async () => {
    const [a, b] = [await run(), await run()];
    expect(sameBytes(a.data, b.data)).toBe(true);
    let changedOutside = 0;
    let changedAlpha = 0;
    let changedHole = 0;
    for (let i = 0; i < W * H; i++) {
      if (a.data[i * 4 + 3] !== img.data[i * 4 + 3]) changedAlpha++;
      const differs = [0, 1, 2].some((c) => a.data[i * 4 + c] !== img.data[i * 4 + c]);
      if (!mask.data[i] && differs) changedOutside++;
      if (mask.data[i] && [0, 1, 2].some((c) => a.data[i * 4 + c] !== [120, 110, 100][c])) changedHole++;
    }
    expect(changedOutside).toBe(0);
    expect(changedAlpha).toBe(0);
    // Every hole was synthesized (not left flat): nearly every hole pixel moved off the flat fill.
    let holes = 0;
    for (let i = 0; i < W * H; i++) holes += mask.data[i];
    expect(changedHole).toBeGreaterThan(0.9 * holes);
  });

  it("counts its work from the mask, runs within the count, and the count grows with the hole", () => {
    const plan = planTexture(whole, mask);
    expect(plan.windows.length).toBe(3);
    expect(plan.holePixels).toBe(mask.data.reduce((s, v) => s + v, 0));
    const fill = flatFill(img, whole, mask);
    const r = synthesizeTexture(fill.image, whole, img, mask);
    expect(r.holePixels).toBe(plan.holePixels);
    expect(r.comparisons).toBeGreaterThan(0);
    expect(r.comparisons).toBeLessThanOrEqual(plan.comparisons);
    expect(r.votes).toBe(plan.votes);
    const small = planTexture(whole, rectMask(W, H, { x: 40, y: 30, width: 16, height: 16 }));
    const large = planTexture(whole, rectMask(W, H, { x: 30, y: 20, width: 32, height: 32 }));
    expect(large.work / small.work).toBeGreaterThan(2);
    expect(large.work / small.work).toBeLessThan(6);
  });

  it("a box with no wholly known patch to copy is left as the model filled it", async () => {
    const hooks = await setUp(plugin);
    const box = { x: 50, y: 30, width: 12, height: 12 };
    const full = rectMask(W, H, box);
    const fill = flatFill(img, box, full);
    const before = fill.image.data.slice();
    await hooks.process(fill, img, full, options({ texture: "on" }));
    expect(sameBytes(fill.image.data, before)).toBe(true);
  });
});

describe("texture: the work bound", () => {
  // A 640x640 hole: about 1.4e9 units of work, over MAX_POST_WORK.
  const W = 900;
  const H = 900;
  const img = photo(W, H);
  const box = { x: 0, y: 0, width: W, height: H };
  const mask = rectMask(W, H, { x: 130, y: 130, width: 640, height: 640 });
  const region = { box, workWidth: W, workHeight: H };

  it("is counted over the bound from the mask alone", () => {
    expect(planTexture(box, mask).work).toBeGreaterThan(MAX_POST_WORK);
  });

  it("texture=on: 422 mask-too-large naming the plugin and the work, before anything is synthesized", async () => {
    const hooks = await setUp(plugin);
    const fill = flatFill(img, box, mask);
    const before = fill.image.data.slice();
    const e = await Promise.resolve()
      .then(() => hooks.process(fill, img, mask, options({ texture: "on" })))
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(Problem);
    expect(e).toMatchObject({ kind: "mask-too-large", status: 422, extensions: { plugin: "texture", max_work: MAX_POST_WORK } });
    expect((e as Problem).extensions.hole_pixels).toBe(640 * 640);
    expect(sameBytes(fill.image.data, before)).toBe(true);
  });

  it("the host's wrapper refuses it in front of process, and before the model from the regions alone", async () => {
    let ran = 0;
    const raw = await setUp(plugin);
    const spy: PostProcessorHooks = {
      ...raw,
      process: (...a) => {
        ran++;
        return raw.process(...a);
      },
    };
    const bounded = boundedPostProcessor("texture", spy);
    const o = options({ texture: "on" });
    await expect(Promise.resolve().then(() => bounded.process(flatFill(img, box, mask), img, mask, o))).rejects.toMatchObject({
      kind: "mask-too-large",
      extensions: { plugin: "texture", work: expect.any(Number) },
    });
    expect(() => checkRequestPostWork([{ plugin, hooks: bounded }], [region], mask, o)).toThrow(/texture=auto/);
    expect(ran).toBe(0);
  });

  it("texture=auto: such a fill is left as the model made it, and counts no work", async () => {
    const hooks = await setUp(plugin);
    const o = options({ texture: "auto" });
    expect(hooks.enabled(o)).toBe(true);
    expect(hooks.work?.(region, mask, o)).toMatchObject({ work: 0, counts: { skipped: 1 } });
    const fill = flatFill(img, box, mask);
    const before = fill.image.data.slice();
    await hooks.process(fill, img, mask, o);
    expect(sameBytes(fill.image.data, before)).toBe(true);
  });

  it("a request's regions count together: two holes each under the bound, over it together, are refused", async () => {
    const hooks = boundedPostProcessor("texture", await setUp(plugin));
    const two = rectMask(1400, 600, { x: 100, y: 90, width: 420, height: 420 }, { x: 880, y: 90, width: 420, height: 420 });
    const regions = [
      { box: { x: 0, y: 0, width: 700, height: 600 }, workWidth: 700, workHeight: 600 },
      { box: { x: 700, y: 0, width: 700, height: 600 }, workWidth: 700, workHeight: 600 },
    ];
    const o = options({ texture: "on" });
    const each = regions.map((r) => hooks.work?.(r, two, o).work ?? 0);
    for (const w of each) expect(w).toBeLessThanOrEqual(MAX_POST_WORK);
    expect(each[0] + each[1]).toBeGreaterThan(MAX_POST_WORK);
    expect(() => checkRequestPostWork([{ plugin, hooks }], regions, two, o)).toThrow(Problem);
    expect(() => checkRequestPostWork([{ plugin, hooks }], regions.slice(0, 1), two, o)).not.toThrow();
  });
});
