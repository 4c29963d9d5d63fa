/**
 * Contract suite of the mask sources: every mask-source plugin gmcnn.config.ts lists (the PNG,
 * shapes and COCO RLE sources, the example watermark-corner plugin) must pass it. Then what is
 * particular to COCO RLE (pycocotools' string coding, column-major runs, unions).
 */
import { describe, expect, it } from "vitest";
import { encodeImage } from "../../../gpu-jobs/codecs.ts";
import type { Mask } from "../../../shared/imaging/types.ts";
import { newImage, newMask } from "../../../shared/imaging/types.ts";
import type { MaskContext, MaskInput } from "../../../shared/plugins/contract.ts";
import { decodeCounts, encodeCounts, rasterizeRle } from "../../../shared/plugins/mask/coco-rle.ts";
import { isProblem } from "../../../shared/problems.ts";
import { fixtureFor, host, options, pluginsOf, setUp } from "./setup.ts";

const W = 40;
const H = 30;
const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

function rect(w: number, h: number, x: number, y: number, rw: number, rh: number): Mask {
  const m = newMask(w, h);
  for (let j = y; j < y + rh; j++) m.data.fill(1, j * w + x, j * w + x + rw);
  return m;
}

async function png(m: Mask): Promise<Uint8Array> {
  const img = newImage(m.width, m.height);
  for (let i = 0; i < m.data.length; i++) img.data.set(m.data[i] ? [255, 255, 255, 255] : [0, 0, 0, 255], i * 4);
  return encodeImage(img, "png");
}

/** Column-major runs, background first: what pycocotools' encode gives. */
function runs(m: Mask): number[] {
  const out: number[] = [];
  let cur = 0;
  let n = 0;
  for (let x = 0; x < m.width; x++)
    for (let y = 0; y < m.height; y++) {
      const v = m.data[y * m.width + x];
      if (v !== cur) {
        out.push(n);
        n = 0;
        cur = v;
      }
      n++;
    }
  out.push(n);
  return out;
}

interface Fixture {
  input: () => Promise<MaskInput>;
  expected: Mask;
  /** A detected input that cannot be read: a 4xx problem, never a crash. */
  broken: () => Promise<MaskInput>;
  /** A mask of another size (none for sources sized by the image). */
  otherSize?: () => Promise<MaskInput>;
}

const hole = rect(W, H, 5, 4, 10, 8);
const small = rect(20, 15, 2, 2, 5, 4);
const FIXTURES: Record<string, Fixture> = {
  png: {
    input: async () => ({ bytes: await png(hole) }),
    expected: hole,
    broken: async () => ({ bytes: (await png(hole)).subarray(0, 40) }),
    otherSize: async () => ({ bytes: await png(small) }),
  },
  shapes: {
    input: async () => ({ json: { shapes: [{ type: "rect", x: 5, y: 4, width: 10, height: 8 }] } }),
    expected: hole,
    broken: async () => ({ bytes: enc({ shapes: [{ type: "rect", x: 1 }] }) }),
  },
  "coco-rle": {
    input: async () => ({ bytes: enc({ size: [H, W], counts: encodeCounts(runs(hole)) }) }),
    expected: hole,
    broken: async () => ({ bytes: enc({ size: [H, W], counts: [5, 3] }) }),
    otherSize: async () => ({ bytes: enc({ size: [15, 20], counts: runs(small) }) }),
  },
  "watermark-corner": {
    input: async () => ({ bytes: enc({ watermark: { corner: "bottom-right", width: 0.25, height: 0.3 } }) }),
    expected: rect(W, H, 30, 21, 10, 9),
    broken: async () => ({ bytes: enc({ watermark: { corner: "middle", width: 2 } }) }),
  },
};

const ctx = (over: Record<string, unknown> = {}): MaskContext => ({
  image: { width: W, height: H },
  options: options(over),
  codecs: host.codecs,
  limits: { maxSide: 12000, maxMegapixels: 8 },
});

const GARBAGE: MaskInput[] = [
  { bytes: new Uint8Array(0) },
  { bytes: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]) },
  { bytes: enc(null) },
  { bytes: enc({}) },
  { bytes: enc([]) },
  { bytes: new TextEncoder().encode("{not json") },
  { json: 42 },
];

const sources = pluginsOf("mask-source");

describe.each(sources.map((p) => [p.name, p] as const))("mask source %s: contract", (name, plugin) => {
  const f = fixtureFor(FIXTURES, name);

  it("recognises its own input and no other source's; garbage never throws", async () => {
    const hooks = await setUp(plugin);
    expect(hooks.detect(await f.input())).toBe(true);
    for (const [other, of] of Object.entries(FIXTURES))
      if (other !== name) expect(hooks.detect(await of.input()), `claims ${other}'s input`).toBe(false);
    for (const g of GARBAGE) expect(() => hooks.detect(g)).not.toThrow();
  });

  it("loads the expected raster at the image's size, with a stable identity", async () => {
    const hooks = await setUp(plugin);
    await hooks.check(await f.input(), ctx());
    const a = await hooks.load(await f.input(), ctx());
    const b = await hooks.load(await f.input(), ctx());
    expect(a.identity).toEqual(b.identity);
    expect(a.empty).toBe(false);
    const m = a.build({ width: W, height: H });
    expect([m.width, m.height]).toEqual([W, H]);
    expect(Array.from(m.data)).toEqual(Array.from(f.expected.data));
  });

  it("invert_mask swaps holes and kept pixels", async () => {
    const hooks = await setUp(plugin);
    const m = (await hooks.load(await f.input(), ctx({ invert_mask: true }))).build({ width: W, height: H });
    expect(Array.from(m.data)).toEqual(Array.from(f.expected.data, (v) => v ^ 1));
  });

  it("an input it recognises but cannot read is a 4xx problem", async () => {
    const hooks = await setUp(plugin);
    const bad = await f.broken();
    expect(hooks.detect(bad)).toBe(true);
    const err = await hooks.load(bad, ctx()).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isProblem(err), String(err)).toBe(true);
    expect((err as { status: number }).status).toBeGreaterThanOrEqual(400);
    expect((err as { status: number }).status).toBeLessThan(500);
  });

  it.runIf(!!f.otherSize)("a mask of another size: 422 mask-mismatch, or scaled with mask_resize", async () => {
    const hooks = await setUp(plugin);
    const other = await (f.otherSize as () => Promise<MaskInput>)();
    await expect(Promise.resolve().then(() => hooks.check(other, ctx()))).rejects.toMatchObject({
      kind: "mask-mismatch",
      status: 422,
    });
    const m = (await hooks.load(other, ctx({ mask_resize: true }))).build({ width: W, height: H });
    expect([m.width, m.height]).toEqual([W, H]);
    // The small mask's hole (x 2..7, y 2..6 of 20x15) lands at twice the coordinates.
    expect(m.data[5 * W + 6]).toBe(1);
    expect(m.data[20 * W + 30]).toBe(0);
  });
});

describe("the config's mask sources", () => {
  it("include PNG, shapes, COCO RLE and at least one more", () => {
    expect(sources.map((s) => s.name)).toEqual(expect.arrayContaining(["png", "shapes", "coco-rle"]));
    expect(sources.length).toBeGreaterThanOrEqual(4);
  });
});

describe("COCO RLE", () => {
  it("codes counts as pycocotools' maskApi.c does (worked by hand from rleToString)", () => {
    // A 6x5 (h x w) mask, rows 1..3 of columns 1..2: column-major runs [7, 3, 3, 3, 14]. Coded:
    // 7 -> "7", 3 -> "3", 3 -> "3", then deltas from i - 2: 3 - 3 = 0 -> "0", 14 - 3 = 11 -> ";".
    const m = rect(5, 6, 1, 1, 2, 3);
    expect(runs(m)).toEqual([7, 3, 3, 3, 14]);
    expect(encodeCounts(runs(m))).toBe("7330;");
    expect(decodeCounts("7330;")).toEqual([7, 3, 3, 3, 14]);
    expect(Array.from(rasterizeRle({ size: [6, 5], counts: "7330;" }).data)).toEqual(Array.from(m.data));
    // Negative deltas are sign-extended: 40 then 8 (delta -32) round-trips.
    expect(decodeCounts(encodeCounts([0, 40, 5, 8, 1]))).toEqual([0, 40, 5, 8, 1]);
  });

  it("round-trips large and irregular masks through the string coding", () => {
    const m = newMask(300, 200);
    let s = 7;
    for (let i = 0; i < m.data.length; i++) {
      s = (s * 1103515245 + 12345) >>> 0;
      m.data[i] = s % 97 < 30 ? 1 : 0;
    }
    const counts = runs(m);
    expect(decodeCounts(encodeCounts(counts))).toEqual(counts);
    expect(Array.from(rasterizeRle({ size: [200, 300], counts: encodeCounts(counts) }).data)).toEqual(Array.from(m.data));
  });

  it("a list of annotations is the union of their segmentations", async () => {
    const [rle] = sources.filter((s) => s.name === "coco-rle");
    const hooks = await setUp(rle);
    const a = rect(W, H, 0, 0, 4, 4);
    const b = rect(W, H, 30, 20, 5, 5);
    const input = {
      bytes: enc([
        { id: 1, segmentation: { size: [H, W], counts: encodeCounts(runs(a)) } },
        { id: 2, segmentation: { size: [H, W], counts: runs(b) } },
      ]),
    };
    expect(hooks.detect(input)).toBe(true);
    const m = (await hooks.load(input, ctx())).build({ width: W, height: H });
    expect(Array.from(m.data)).toEqual(Array.from(a.data, (v, i) => v | b.data[i]));
  });

  it("refuses an RLE larger than the upload limits before drawing it", async () => {
    const [rle] = sources.filter((s) => s.name === "coco-rle");
    const hooks = await setUp(rle);
    const huge = { bytes: enc({ size: [60000, 60000], counts: [3_600_000_000] }) };
    await expect(hooks.load(huge, ctx({ mask_resize: true }))).rejects.toMatchObject({ kind: "image-too-large" });
  });
});
