/**
 * Mask source `coco-rle`: COCO run-length encoding, what segmentation tools (pycocotools, SAM,
 * CVAT, Label Studio exports) write: `{"size":[height,width],"counts":"<compressed>"|[runs]}`,
 * an annotation holding one as `segmentation`, or an array of either (their union). Runs
 * alternate background and hole, starting with background, in column-major order.
 */
import { z } from "zod";
import type { Mask } from "../../imaging/types.ts";
import { newMask } from "../../imaging/types.ts";
import { invalidOptions, Problem } from "../../problems.ts";
import { definePlugin, type MaskContext, type MaskInput, type MaskWork, maxMaskWork } from "../contract.ts";
import { checkSize, fitted, jsonOf } from "./input.ts";

const Rle = z.object({
  size: z.tuple([z.number().int().min(1).max(65535), z.number().int().min(1).max(65535)]),
  counts: z.union([z.string().max(50_000_000), z.array(z.number().int().min(0)).max(10_000_000)]),
});
type Rle = z.infer<typeof Rle>;
const Doc = z.union([Rle, z.object({ segmentation: Rle }).loose()]);
const Docs = z.union([Doc, z.array(Doc).min(1).max(1000)]);

const isRleLike = (v: unknown): boolean =>
  !!v &&
  typeof v === "object" &&
  ("counts" in v || ("segmentation" in v && isRleLike((v as { segmentation: unknown }).segmentation)));

/** pycocotools' compressed counts (rleFrString): 5 bits a character, sign-extended, deltas from i - 2. */
export function decodeCounts(s: string): number[] {
  const counts: number[] = [];
  let p = 0;
  while (p < s.length) {
    let x = 0;
    let k = 0;
    let more = true;
    while (more) {
      if (p >= s.length) throw new RangeError("counts string ends inside a number");
      const c = s.charCodeAt(p) - 48;
      if (c < 0 || c > 63) throw new RangeError(`invalid character ${JSON.stringify(s[p])} in counts`);
      // Arithmetic, not bit operations: counts may exceed 31 bits.
      x += (c & 0x1f) * 2 ** (5 * k);
      more = (c & 0x20) !== 0;
      p++;
      k++;
      if (!more && c & 0x10) x -= 2 ** (5 * k);
      if (k > 8) throw new RangeError("a count in the counts string is too long");
    }
    if (counts.length > 2) x += counts[counts.length - 2];
    if (x < 0) throw new RangeError("a run length is negative");
    counts.push(x);
  }
  return counts;
}

/** pycocotools' rleToString, for tests and clients. */
export function encodeCounts(counts: readonly number[]): string {
  let s = "";
  for (let i = 0; i < counts.length; i++) {
    let x = counts[i] - (i > 2 ? counts[i - 2] : 0);
    let more = true;
    while (more) {
      let c = ((x % 32) + 32) % 32;
      x = Math.floor(x / 32);
      more = c & 0x10 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      s += String.fromCharCode(c + 48);
    }
  }
  return s;
}

/** The runs as a mask of [height, width], column-major runs into a row-major raster. */
export function rasterizeRle(rle: Rle): Mask {
  const m = newMask(rle.size[1], rle.size[0]);
  drawRuns(m, runsOf(rle));
  return m;
}

/** The run lengths, decoded from the string form; their sum must be the mask's area. */
function runsOf(rle: Rle): number[] {
  const [h, w] = rle.size;
  const counts = typeof rle.counts === "string" ? decodeCounts(rle.counts) : rle.counts;
  let total = 0;
  for (const c of counts) total += c;
  if (total !== h * w) throw new RangeError(`the runs cover ${total} pixels, not ${h}x${w} = ${h * w}`);
  return counts;
}

/**
 * Sets the hole runs of `counts` (column-major, background first) in `m`, in place: a union of
 * several RLEs draws each into the same raster. Returns the pixels written.
 */
export function drawRuns(m: Mask, counts: readonly number[]): number {
  const { width: w, height: h, data } = m;
  let p = 0;
  let written = 0;
  for (let i = 0; i < counts.length; i++) {
    const end = p + counts[i];
    if (i % 2 === 1) {
      // Column by column: one division per column, not per pixel.
      for (let q = p; q < end; ) {
        const x = Math.floor(q / h);
        const stop = Math.min(end, (x + 1) * h);
        for (let y = q - x * h, o = y * w + x; q < stop; q++, o += w) data[o] = 1;
      }
      written += counts[i];
    }
    p = end;
  }
  return written;
}

/**
 * What drawing a list of RLEs costs: a run's bookkeeping weighs RUN_COST, and every hole pixel of
 * every object is written (overlaps each time): 1,000 full-image objects are 1,000 images of work.
 */
export const RUN_COST = 16;

export interface RleWork {
  objects: number;
  runs: number;
  /** Hole pixels written, over all objects. */
  pixels: number;
  work: number;
}

export function rleWork(runLists: readonly (readonly number[])[]): RleWork {
  let runs = 0;
  let pixels = 0;
  for (const counts of runLists) {
    runs += counts.length;
    for (let i = 1; i < counts.length; i += 2) pixels += counts[i];
  }
  return { objects: runLists.length, runs, pixels, work: pixels + RUN_COST * runs };
}

/** Run lists a document may hold at most, counted from its JSON before validating it (strings: a run per character). */
function rawRuns(doc: unknown): number {
  const one = (d: unknown): number => {
    const rle = d && typeof d === "object" && "segmentation" in d ? (d as { segmentation: unknown }).segmentation : d;
    const c = rle && typeof rle === "object" ? (rle as { counts?: unknown }).counts : undefined;
    return Array.isArray(c) || typeof c === "string" ? c.length : 0;
  };
  return Array.isArray(doc) ? doc.reduce((n: number, d) => n + one(d), 0) : one(doc);
}

interface Parsed {
  size: [number, number];
  runs: number[][];
  work: RleWork;
}

/** Parsed and decoded once per input (work, check and load all need it). */
const parsedDocs = new WeakMap<MaskInput, Parsed>();

function parse(input: MaskInput): Parsed {
  const had = parsedDocs.get(input);
  if (had) return had;
  const r = Docs.safeParse(jsonOf(input));
  if (!r.success) throw invalidOptions(r.error, ["mask"]);
  const list = Array.isArray(r.data) ? r.data : [r.data];
  const rles = list.map((d) => ("segmentation" in d ? d.segmentation : d) as Rle);
  const [h, w] = rles[0].size;
  if (rles.some((x) => x.size[0] !== h || x.size[1] !== w))
    throw new Problem("bad-request", "mask: every RLE in the list must have the same size", { field: "mask" });
  let runs: number[][];
  try {
    runs = rles.map(runsOf);
  } catch (e) {
    throw new Problem("undecodable-image", `mask: ${(e as Error).message}`, { field: "mask" });
  }
  const out: Parsed = { size: [h, w], runs, work: rleWork(runs) };
  parsedDocs.set(input, out);
  return out;
}

/** The work of an input: from the raw JSON when its runs alone are over the bound, else counted exactly. */
function work(input: MaskInput, ctx: MaskContext): MaskWork {
  const raw = rawRuns(jsonOf(input));
  if (RUN_COST * raw > maxMaskWork(ctx.limits)) return { work: RUN_COST * raw, counts: { runs: raw } };
  const { work: w, size } = parse(input);
  checkSize({ width: size[1], height: size[0] }, ctx);
  return { work: w.work, counts: { objects: w.objects, runs: w.runs, pixels: w.pixels } };
}

export const cocoRleMask = () =>
  definePlugin({
    name: "coco-rle",
    version: "1.0.0",
    kind: "mask-source",
    description:
      'COCO run-length encoding ({"size":[h,w],"counts":...}, an annotation with `segmentation`, or a list: the union)',
    setup: () => ({
      accepts: 'COCO RLE JSON ({"size":[h,w],"counts":...})',
      detect: (input) => {
        const doc = jsonOf(input);
        return Array.isArray(doc) ? doc.length > 0 && doc.every(isRleLike) : isRleLike(doc);
      },
      work,
      check: (input, ctx) => {
        const [h, w] = parse(input).size;
        checkSize({ width: w, height: h }, ctx);
      },
      async load(input, ctx) {
        const { size, runs } = parse(input);
        const [h, w] = size;
        checkSize({ width: w, height: h }, ctx);
        // One raster: every RLE's hole runs are drawn into it (the union), none is built alone.
        const m = newMask(w, h);
        for (const counts of runs) drawRuns(m, counts);
        const out = fitted(m, ctx.image, ctx.options.invert_mask);
        let holes = 0;
        for (let i = 0; i < out.data.length && holes === 0; i++) holes += out.data[i];
        return { identity: out.data, empty: holes === 0, build: () => out };
      },
    }),
  });
