/**
 * Contract suite of the post-processors: every post-processor plugin gmcnn.config.ts lists must
 * pass it (opt-in, deterministic, changes only its fill, copes with edge and empty boxes). Then
 * what each one is for: feathering equals the feathered composite, seam blending removes a colour
 * step, grain matching brings a smooth fill to its surroundings' noise level, texture synthesis
 * brings the photo's texture into a smooth fill and keeps the fill's low-pass.
 */
import { describe, expect, it } from "vitest";
import { compositeInto } from "../../../shared/imaging/composite.ts";
import { noiseSigma } from "../../../shared/imaging/grain.ts";
import { boxBlur } from "../../../shared/imaging/lowpass.ts";
import { type Fill, finishFill } from "../../../shared/imaging/pipeline.ts";
import { cropImage } from "../../../shared/imaging/resize.ts";
import { type Box, type Mask, newImage, newMask, type RgbaImage } from "../../../shared/imaging/types.ts";
import { fixtureFor, options, pluginsOf, setUp } from "./setup.ts";

const W = 96;
const H = 72;

/** A textured photo-like image with seeded noise of `sigma`. */
function photo(w = W, h = H, sigma = 6, seed = 3): RgbaImage {
  const img = newImage(w, h);
  let s = seed;
  const rnd = () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 4294967296;
  };
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const p = (y * w + x) * 4;
      const g = () => Math.sqrt(-2 * Math.log(Math.max(rnd(), 1e-9))) * Math.cos(2 * Math.PI * rnd());
      img.data[p] = 90 + x + sigma * g();
      img.data[p + 1] = 60 + y + sigma * g();
      img.data[p + 2] = 140 + 30 * Math.sin(x / 9) + sigma * g();
      img.data[p + 3] = 200 + (x % 50);
    }
  return img;
}

function holeMask(w: number, h: number, b: Box): Mask {
  const m = newMask(w, h);
  for (let y = b.y; y < b.y + b.height; y++) m.data.fill(1, y * w + b.x, y * w + b.x + b.width);
  return m;
}

/** A fill for `box`: the truth shifted by `offset` and flattened inside the hole (a plastic, off-colour fill). */
function badFill(img: RgbaImage, box: Box, mask: Mask, offset = 30): Fill {
  const f = cropImage(img, box);
  for (let y = 0; y < box.height; y++)
    for (let x = 0; x < box.width; x++) {
      if (!mask.data[(box.y + y) * mask.width + box.x + x]) continue;
      const p = (y * box.width + x) * 4;
      for (let c = 0; c < 3; c++) f.data[p + c] = 100 + c * 20 + offset;
    }
  return { region: { box, workWidth: box.width, workHeight: box.height }, image: f };
}

const same = (a: ArrayLike<number>, b: ArrayLike<number>) =>
  a.length === b.length && Array.prototype.every.call(a, (v, i) => v === b[i]);

const FIXTURES: Record<string, { on: Record<string, unknown> }> = {
  feather: { on: { feather: 6 } },
  "seam-blend": { on: { seam_blend: true } },
  grain: { on: { grain: 1 } },
  texture: { on: { texture: "on" } },
};

const CASES: { name: string; box: Box; hole: Box }[] = [
  {
    name: "a crop inside the image",
    box: { x: 20, y: 10, width: 50, height: 40 },
    hole: { x: 35, y: 20, width: 20, height: 18 },
  },
  { name: "a hole at the image border", box: { x: 0, y: 0, width: 60, height: 50 }, hole: { x: 0, y: 0, width: 25, height: 20 } },
  { name: "the whole image", box: { x: 0, y: 0, width: W, height: H }, hole: { x: 30, y: 30, width: 30, height: 20 } },
];

const post = pluginsOf("post-processor");

describe.each(post.map((p) => [p.name, p] as const))("post-processor %s: contract", (name, plugin) => {
  const f = fixtureFor(FIXTURES, name);

  it("is off unless the request asks for it", async () => {
    const hooks = await setUp(plugin);
    expect(hooks.enabled(options())).toBe(false);
    expect(hooks.enabled(options(f.on))).toBe(true);
  });

  it.each(CASES)(
    "$name: deterministic, leaves the picture to the composite, changes only hole pixels of the output",
    async (c) => {
      const hooks = await setUp(plugin);
      const img = photo();
      const mask = holeMask(W, H, c.hole);
      const before = img.data.slice();
      const run = async () => {
        const fill = badFill(img, c.box, mask);
        const untouched = fill.image.data.slice();
        await hooks.process(fill, img, mask, options(f.on));
        expect(same(img.data, before), "process wrote to the picture").toBe(true);
        expect([fill.image.width, fill.image.height]).toEqual([c.box.width, c.box.height]);
        return { fill, untouched };
      };
      const a = await run();
      const b = await run();
      expect(same(a.fill.image.data, b.fill.image.data)).toBe(true);
      expect(same(a.fill.image.data, a.untouched)).toBe(false); // it did something to this fill
      const out = { width: W, height: H, data: img.data.slice() };
      await finishFill(out, mask, a.fill);
      let changedOutside = 0;
      let alphaChanged = 0;
      for (let i = 0; i < W * H; i++) {
        if (out.data[i * 4 + 3] !== before[i * 4 + 3]) alphaChanged++;
        if (!mask.data[i]) for (let ch = 0; ch < 4; ch++) if (out.data[i * 4 + ch] !== before[i * 4 + ch]) changedOutside++;
      }
      expect(changedOutside).toBe(0);
      expect(alphaChanged).toBe(0);
    },
  );

  it("a box without hole pixels is not an error", async () => {
    const hooks = await setUp(plugin);
    const img = photo();
    const mask = newMask(W, H);
    const fill = badFill(img, { x: 10, y: 10, width: 20, height: 20 }, mask);
    await hooks.process(fill, img, mask, options(f.on));
  });
});

describe("the config's post-processors", () => {
  it("include feathering, seam blending, texture synthesis and grain matching", () => {
    expect(post.map((p) => p.name)).toEqual(expect.arrayContaining(["feather", "seam-blend", "texture", "grain"]));
  });
});

/** Mean absolute error of the hole pixels of `fill` against the truth. */
function holeError(fill: Fill, truth: RgbaImage, mask: Mask): number {
  const { box } = fill.region;
  let sum = 0;
  let n = 0;
  for (let y = 0; y < box.height; y++)
    for (let x = 0; x < box.width; x++) {
      if (!mask.data[(box.y + y) * mask.width + box.x + x]) continue;
      for (let c = 0; c < 3; c++)
        sum += Math.abs(fill.image.data[(y * box.width + x) * 4 + c] - truth.data[((box.y + y) * W + box.x + x) * 4 + c]);
      n += 3;
    }
  return sum / n;
}

describe("what each post-processor is for", () => {
  const box = { x: 16, y: 12, width: 64, height: 48 };
  const hole = { x: 36, y: 26, width: 24, height: 20 };

  it("feather equals the feathered composite", async () => {
    const [p] = post.filter((x) => x.name === "feather");
    const hooks = await setUp(p);
    const img = photo();
    const mask = holeMask(W, H, hole);
    const fill = badFill(img, box, mask);
    const viaComposite = { width: W, height: H, data: img.data.slice() };
    compositeInto(viaComposite, fill.image, box, mask, 6);
    const viaPlugin = { width: W, height: H, data: img.data.slice() };
    await finishFill(viaPlugin, mask, fill, (f, whole, m) => hooks.process(f, whole, m, options({ feather: 6 })));
    expect(same(viaPlugin.data, viaComposite.data)).toBe(true);
  });

  it("seam blending removes a colour step: the truth's own texture, shifted by 40, comes back within noise", async () => {
    const [p] = post.filter((x) => x.name === "seam-blend");
    const hooks = await setUp(p);
    const img = photo(W, H, 2);
    const mask = holeMask(W, H, hole);
    // The truth's texture with a constant colour error: exactly what gradient-domain blending fixes.
    const fill: Fill = { region: { box, workWidth: box.width, workHeight: box.height }, image: cropImage(img, box) };
    for (let i = 0; i < fill.image.data.length; i += 4) for (let c = 0; c < 3; c++) fill.image.data[i + c] += 40;
    const before = holeError(fill, img, mask);
    await hooks.process(fill, img, mask, options({ seam_blend: true }));
    const after = holeError(fill, img, mask);
    expect(before).toBeGreaterThan(35);
    expect(after).toBeLessThan(3);
  });

  it("grain brings a flat fill to the noise level of its surroundings", async () => {
    const [p] = post.filter((x) => x.name === "grain");
    const hooks = await setUp(p);
    const img = photo(W, H, 8);
    const mask = holeMask(W, H, hole);
    const fill = badFill(img, box, mask);
    const around = noiseSigma(img, { x: 0, y: 0 }, box, mask, 0) as number[];
    expect(noiseSigma(fill.image, { x: box.x, y: box.y }, box, mask, 1)).toEqual([0, 0, 0]);
    await hooks.process(fill, img, mask, options({ grain: 1 }));
    const now = noiseSigma(fill.image, { x: box.x, y: box.y }, box, mask, 1) as number[];
    for (let c = 0; c < 3; c++) {
      expect(around[c]).toBeGreaterThan(6);
      expect(Math.abs(now[c] - around[c]) / around[c]).toBeLessThan(0.2);
    }
  });

  it("texture brings the stripes and noise of the photo into a smooth fill and keeps the fill's low-pass", async () => {
    const [p] = post.filter((x) => x.name === "texture");
    const hooks = await setUp(p);
    const img = striped(W, H);
    const mask = holeMask(W, H, hole);
    // A smooth fill: the truth's low-pass (what a network that learnt no texture returns).
    const fill: Fill = { region: { box, workWidth: box.width, workHeight: box.height }, image: cropImage(img, box) };
    const truthLow = boxBlur(planes(img), W, H, 3, 3);
    for (let y = 0; y < box.height; y++)
      for (let x = 0; x < box.width; x++)
        if (mask.data[(box.y + y) * W + box.x + x])
          for (let c = 0; c < 3; c++)
            fill.image.data[(y * box.width + x) * 4 + c] = truthLow[((box.y + y) * W + box.x + x) * 3 + c];
    const guide = { width: W, height: H, data: img.data.slice() };
    compositeInto(guide, fill.image, box, mask);
    const before = detail(guide, mask);
    await hooks.process(fill, img, mask, options({ texture: "on" }));
    const out = { width: W, height: H, data: img.data.slice() };
    compositeInto(out, fill.image, box, mask);
    const after = detail(out, mask);
    expect(before.around).toBeGreaterThan(15); // the photo: stripes of +-20 and noise of sigma 5
    expect(before.hole).toBeLessThan(0.25 * before.around); // the smooth fill
    expect(after.hole).toBeGreaterThan(0.7 * after.around);
    expect(after.hole).toBeLessThan(1.3 * after.around);
    // The low-pass in the hole is still the fill's (within a few levels of 255).
    const lowOut = boxBlur(planes(out), W, H, 3, 3);
    const lowGuide = boxBlur(planes(guide), W, H, 3, 3);
    let diff = 0;
    let n = 0;
    for (let i = 0; i < W * H; i++)
      if (mask.data[i])
        for (let c = 0; c < 3; c++) {
          diff += Math.abs(lowOut[i * 3 + c] - lowGuide[i * 3 + c]);
          n++;
        }
    expect(diff / n).toBeLessThan(3);
  });
});

/** A photo with vertical stripes (period 6, +-20), a gradient and seeded noise of sigma 5. */
function striped(w: number, h: number): RgbaImage {
  const img = photo(w, h, 5, 9);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) img.data[(y * w + x) * 4 + c] += x % 6 < 3 ? 20 : -20;
  return img;
}

/** RGB as floats, 3 a pixel. */
function planes(img: RgbaImage): Float32Array {
  const f = new Float32Array(img.width * img.height * 3);
  for (let i = 0; i < img.width * img.height; i++) for (let c = 0; c < 3; c++) f[i * 3 + c] = img.data[i * 4 + c];
  return f;
}

/**
 * RMS detail (a pixel minus the mean of its 5x5 neighbourhood) of the hole pixels, and of the
 * kept pixels whose neighbourhood is all kept.
 */
function detail(img: RgbaImage, mask: Mask): { hole: number; around: number } {
  const sums = { hole: 0, around: 0 };
  const counts = { hole: 0, around: 0 };
  for (let y = 2; y < img.height - 2; y++)
    for (let x = 2; x < img.width - 2; x++) {
      let anyHole = false;
      for (let dy = -2; dy <= 2; dy++)
        for (let dx = -2; dx <= 2; dx++) anyHole ||= mask.data[(y + dy) * img.width + x + dx] === 1;
      const where = mask.data[y * img.width + x] ? "hole" : anyHole ? null : "around";
      if (!where) continue;
      for (let c = 0; c < 3; c++) {
        let m = 0;
        for (let dy = -2; dy <= 2; dy++) for (let dx = -2; dx <= 2; dx++) m += img.data[((y + dy) * img.width + x + dx) * 4 + c];
        const e = img.data[(y * img.width + x) * 4 + c] - m / 25;
        sums[where] += e * e;
        counts[where]++;
      }
    }
  return { hole: Math.sqrt(sums.hole / counts.hole), around: Math.sqrt(sums.around / counts.around) };
}
