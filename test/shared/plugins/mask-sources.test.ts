/**
 * Contract suite of the mask sources: every mask-source plugin gmcnn.config.ts lists (the PNG,
 * shapes and COCO RLE sources, the example watermark-corner plugin) must pass it. Then what is
 * particular to COCO RLE (pycocotools' string coding, column-major runs, unions).
 */
import { describe, expect, it } from "vitest";
import { encodeImage } from "../../../gpu-jobs/codecs.ts";
import type { Mask } from "../../../shared/imaging/types.ts";
import { newImage, newMask } from "../../../shared/imaging/types.ts";
import { type MaskContext, type MaskInput, type MaskSourceHooks, maxMaskWork } from "../../../shared/plugins/contract.ts";
import { decodeCounts, drawRuns, encodeCounts, RUN_COST, rasterizeRle, rleWork } from "../../../shared/plugins/mask/coco-rle.ts";
import { boundedMaskSource, PluginSet } from "../../../shared/plugins/registry.ts";
import { isProblem, type Problem } from "../../../shared/problems.ts";
import { config, fixtureFor, host, options, pluginsOf, setUp } from "./setup.ts";

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
  /** The costliest document this source accepts under the work bound of BOUND (image BW x BH). */
  worst: () => Promise<MaskInput>;
  /** A document over the bound (a 4xx problem before any of it is read), or why none can exist. */
  over: (() => Promise<MaskInput>) | { none: string };
}

/** The work bound's test host: a 500x500 image, limits of 0.25 MP, so the bound is 1 M units. */
const BW = 500;
const BH = 500;
const full = (w: number, h: number) => ({ size: [h, w], counts: [0, w * h] });
const fullRect = { type: "rect", x: 0, y: 0, width: BW, height: BH };

const hole = rect(W, H, 5, 4, 10, 8);
const small = rect(20, 15, 2, 2, 5, 4);
const FIXTURES: Record<string, Fixture> = {
  png: {
    input: async () => ({ bytes: await png(hole) }),
    expected: hole,
    broken: async () => ({ bytes: (await png(hole)).subarray(0, 40) }),
    otherSize: async () => ({ bytes: await png(small) }),
    // Decoding is the mask's pixels: the largest the limits allow, scaled to the image.
    worst: async () => ({ bytes: await png(rect(BW, BH - 1, 0, 0, BW, BH - 1)) }),
    over: async () => ({ bytes: await png(rect(BW + 100, BH + 100, 0, 0, 10, 10)) }),
  },
  shapes: {
    input: async () => ({ json: { shapes: [{ type: "rect", x: 5, y: 4, width: 10, height: 8 }] } }),
    expected: hole,
    broken: async () => ({ bytes: enc({ shapes: [{ type: "rect", x: 1 }] }) }),
    // A full-image rectangle is 250,000 pixel writes and 500 rows (x 32): three fit in 1 M, four do not.
    worst: async () => ({ json: { shapes: [fullRect, fullRect, fullRect] } }),
    over: async () => ({ json: { shapes: [fullRect, fullRect, fullRect, fullRect] } }),
  },
  "coco-rle": {
    input: async () => ({ bytes: enc({ size: [H, W], counts: encodeCounts(runs(hole)) }) }),
    expected: hole,
    broken: async () => ({ bytes: enc({ size: [H, W], counts: [5, 3] }) }),
    otherSize: async () => ({ bytes: enc({ size: [15, 20], counts: runs(small) }) }),
    // Every hole pixel of every object is written: three full-image objects fit in 1 M, four do not.
    worst: async () => ({ bytes: enc([full(BW, BH), full(BW, BH), full(BW, BH)]) }),
    over: async () => ({ bytes: enc([full(BW, BH), full(BW, BH), full(BW, BH), full(BW, BH)]) }),
  },
  "watermark-corner": {
    input: async () => ({ bytes: enc({ watermark: { corner: "bottom-right", width: 0.25, height: 0.3 } }) }),
    expected: rect(W, H, 30, 21, 10, 9),
    broken: async () => ({ bytes: enc({ watermark: { corner: "middle", width: 2 } }) }),
    worst: async () => ({ bytes: enc({ watermark: { corner: "top-left", width: 1, height: 1 } }) }),
    over: { none: "one raster at the image's size whatever the document: one pass, under any bound" },
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

/** The bound's context; `decoded` counts the pixels the host's codecs decode for the source. */
function boundCtx(over: Record<string, unknown> = {}) {
  const counter = { decoded: 0 };
  const c: MaskContext = {
    image: { width: BW, height: BH },
    options: options({ mask_resize: true, ...over }),
    codecs: {
      ...host.codecs,
      decode: (bytes, header, what) => {
        counter.decoded += header.width * header.height;
        return host.codecs.decode(bytes, header, what);
      },
    },
    limits: { maxSide: 1000, maxMegapixels: 0.25 },
  };
  return { ctx: c, counter };
}

/** The source's hooks, counting the calls of check and load that get past the bound. */
function spied(hooks: MaskSourceHooks) {
  const calls = { check: 0, load: 0 };
  const inner: MaskSourceHooks = {
    accepts: hooks.accepts,
    detect: (i) => hooks.detect(i),
    work: (i, c) => hooks.work(i, c),
    check: (i, c) => {
      calls.check++;
      return hooks.check(i, c);
    },
    load: (i, c) => {
      calls.load++;
      return hooks.load(i, c);
    },
  };
  return { calls, inner };
}

describe.each(sources.map((p) => [p.name, p] as const))("mask source %s: the work bound", (name, plugin) => {
  const f = fixtureFor(FIXTURES, name);
  const max = maxMaskWork({ maxSide: 1000, maxMegapixels: 0.25 });

  it("counts its work without reading: the same estimate for the same input, whatever the order", async () => {
    const hooks = await setUp(plugin);
    expect(typeof hooks.work).toBe("function");
    const { ctx: c } = boundCtx();
    const input = await f.input();
    const a = hooks.work(input, c);
    const b = hooks.work(await f.input(), c);
    expect(a.work).toBeGreaterThan(0);
    expect(a).toEqual(b);
  });

  it("its worst case under the bound loads, within its counted work", async () => {
    expect(max).toBe(1_000_000);
    const { calls, inner } = spied(await setUp(plugin));
    const bounded = boundedMaskSource(name, inner);
    const { ctx: c, counter } = boundCtx();
    const input = await f.worst();
    expect(bounded.detect(input)).toBe(true);
    const w = bounded.work(input, c);
    expect(w.work).toBeLessThanOrEqual(max);
    await bounded.check(input, c);
    const m = (await bounded.load(input, c)).build({ width: BW, height: BH });
    expect([m.width, m.height, calls.check, calls.load]).toEqual([BW, BH, 1, 1]);
    // What the host decoded for it is inside what it counted.
    expect(counter.decoded).toBeLessThanOrEqual(w.work);
  });

  it("over the bound: a 4xx problem before check or load runs", async (t) => {
    if (typeof f.over !== "function") {
      expect((f.over as { none: string }).none.length).toBeGreaterThan(0);
      return t.skip();
    }
    const { calls, inner } = spied(await setUp(plugin));
    const bounded = boundedMaskSource(name, inner);
    const { ctx: c, counter } = boundCtx();
    const input = await f.over();
    expect(bounded.detect(input)).toBe(true);
    const steps: (() => unknown)[] = [() => bounded.check(input, c), () => bounded.load(input, c)];
    for (const step of steps) {
      const err = (await Promise.resolve()
        .then(step)
        .then(
          () => null,
          (e: unknown) => e,
        )) as Problem | null;
      expect(isProblem(err), String(err)).toBe(true);
      expect([413, 422]).toContain(err?.status);
    }
    expect([calls.check, calls.load, counter.decoded]).toEqual([0, 0, 0]);
  });
});

describe("the host's work bound", () => {
  const limits = { maxSide: 12000, maxMegapixels: 8 };

  it("is four passes over the largest image the limits accept", () => {
    expect(maxMaskWork(limits)).toBe(32_000_000);
  });

  it("every PluginSet puts it in front of its mask sources", async () => {
    const set = await PluginSet.load(config, { GPU_URL: "http://127.0.0.1:9" }, host);
    const rle = set.maskSourceFor({ json: [full(BW, BH), full(BW, BH), full(BW, BH), full(BW, BH)] });
    expect(rle.plugin.name).toBe("coco-rle");
    const { ctx: c } = boundCtx();
    await expect(rle.hooks.load({ json: [full(BW, BH), full(BW, BH), full(BW, BH), full(BW, BH)] }, c)).rejects.toMatchObject({
      kind: "mask-too-complex",
      status: 422,
    });
  });

  it("a mask source without a work estimate is a plugin-config error", () => {
    const { work: _, ...noWork } = {
      accepts: "x",
      detect: () => false,
      work: () => ({ work: 0, counts: {} }),
      check() {},
      load: async () => ({ identity: "", empty: true, build: () => newMask(1, 1) }),
    };
    expect(() => boundedMaskSource("nowork", noWork as unknown as MaskSourceHooks)).toThrow(/must estimate its work/);
  });

  it("an estimate that is not a count is refused, not trusted", async () => {
    const hooks: MaskSourceHooks = {
      accepts: "x",
      detect: () => true,
      work: () => ({ work: Number.NaN, counts: {} }),
      check() {},
      load: async () => ({ identity: "", empty: true, build: () => newMask(1, 1) }),
    };
    const { ctx: c } = boundCtx();
    await expect(boundedMaskSource("nan", hooks).load({ json: {} }, c)).rejects.toMatchObject({ status: 500 });
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

  it("issue #20: 1,000 full-size objects are refused by their counted work before one is drawn", async () => {
    // The probe's request: a 2000x2000 image, 1,000 RLEs of 2000x2000. All hole: 4 G pixel writes.
    const raw = await setUp(sources.filter((s) => s.name === "coco-rle")[0]);
    const hooks = boundedMaskSource("coco-rle", raw);
    const c: MaskContext = { ...ctx(), image: { width: 2000, height: 2000 } };
    const doc = { bytes: enc(Array.from({ length: 1000 }, () => full(2000, 2000))) };
    expect(raw.work(doc, c)).toEqual({ work: 4e9 + 2000 * RUN_COST, counts: { objects: 1000, runs: 2000, pixels: 4e9 } });
    await expect(hooks.load(doc, c)).rejects.toMatchObject({
      kind: "mask-too-complex",
      status: 422,
      extensions: { work: 4e9 + 2000 * RUN_COST, max_work: 32e6, objects: 1000 },
    });
    await expect(Promise.resolve().then(() => hooks.check(doc, c))).rejects.toMatchObject({ kind: "mask-too-complex" });
  });

  it("issue #20: the probe's 1,000 background-only objects cost their runs, not 1,000 rasters", async () => {
    // `counts: [4000000]`: no hole at all. Drawn into one raster, nothing is written.
    const hooks = boundedMaskSource("coco-rle", await setUp(sources.filter((s) => s.name === "coco-rle")[0]));
    const c: MaskContext = { ...ctx(), image: { width: 2000, height: 2000 } };
    const doc = { bytes: enc(Array.from({ length: 1000 }, () => ({ size: [2000, 2000], counts: [4_000_000] }))) };
    expect(hooks.work(doc, c).work).toBe(1000 * RUN_COST);
    const loaded = await hooks.load(doc, c);
    expect(loaded.empty).toBe(true);
  });

  it("draws what it counts: the pixels written are the counted hole pixels", () => {
    const a = runs(rect(W, H, 3, 2, 9, 7));
    const b = runs(rect(W, H, 6, 5, 20, 10));
    const m = newMask(W, H);
    const written = drawRuns(m, a) + drawRuns(m, b);
    expect(written).toBe(rleWork([a, b]).pixels);
    expect(written).toBe(9 * 7 + 20 * 10);
    expect(Array.from(m.data)).toEqual(Array.from(rect(W, H, 3, 2, 9, 7).data, (v, i) => v | rect(W, H, 6, 5, 20, 10).data[i]));
  });

  it("counts runs from the raw document first: a flood of runs is refused before it is validated", async () => {
    const hooks = await setUp(sources.filter((s) => s.name === "coco-rle")[0]);
    const c = ctx();
    // 2,000,001 runs x 16 > 32 M: over before zod reads a number.
    const counts = new Array(2_000_001).fill(0);
    const w = hooks.work({ json: { size: [H, W], counts } }, c);
    expect(w).toEqual({ work: 2_000_001 * RUN_COST, counts: { runs: 2_000_001 } });
  });

  it("refuses an RLE larger than the upload limits before drawing it", async () => {
    const [rle] = sources.filter((s) => s.name === "coco-rle");
    const hooks = await setUp(rle);
    const huge = { bytes: enc({ size: [60000, 60000], counts: [3_600_000_000] }) };
    await expect(hooks.load(huge, ctx({ mask_resize: true }))).rejects.toMatchObject({ kind: "image-too-large" });
  });
});
