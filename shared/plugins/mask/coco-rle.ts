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
import { definePlugin, type MaskInput } from "../contract.ts";
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
  const [h, w] = rle.size;
  const counts = typeof rle.counts === "string" ? decodeCounts(rle.counts) : rle.counts;
  const total = counts.reduce((a, b) => a + b, 0);
  if (total !== h * w) throw new RangeError(`the runs cover ${total} pixels, not ${h}x${w} = ${h * w}`);
  const m = newMask(w, h);
  let p = 0;
  for (let i = 0; i < counts.length; i++) {
    const end = p + counts[i];
    if (i % 2 === 1) for (let q = p; q < end; q++) m.data[(q % h) * w + Math.floor(q / h)] = 1;
    p = end;
  }
  return m;
}

function parse(input: MaskInput): Rle[] {
  const r = Docs.safeParse(jsonOf(input));
  if (!r.success) throw invalidOptions(r.error, ["mask"]);
  const list = Array.isArray(r.data) ? r.data : [r.data];
  const rles = list.map((d) => ("segmentation" in d ? d.segmentation : d) as Rle);
  const [h, w] = rles[0].size;
  if (rles.some((x) => x.size[0] !== h || x.size[1] !== w))
    throw new Problem("bad-request", "mask: every RLE in the list must have the same size", { field: "mask" });
  return rles;
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
      check: (input, ctx) => {
        const [h, w] = parse(input)[0].size;
        checkSize({ width: w, height: h }, ctx);
      },
      async load(input, ctx) {
        const rles = parse(input);
        const [h, w] = rles[0].size;
        checkSize({ width: w, height: h }, ctx);
        let m: Mask;
        try {
          m = rasterizeRle(rles[0]);
          for (const other of rles.slice(1)) {
            const o = rasterizeRle(other);
            for (let i = 0; i < m.data.length; i++) m.data[i] |= o.data[i];
          }
        } catch (e) {
          throw new Problem("undecodable-image", `mask: ${(e as Error).message}`, { field: "mask" });
        }
        const out = fitted(m, ctx.image, ctx.options.invert_mask);
        let holes = 0;
        for (let i = 0; i < out.data.length && holes === 0; i++) holes += out.data[i];
        return { identity: out.data, empty: holes === 0, build: () => out };
      },
    }),
  });
