/**
 * Texture for one fill: guided patch synthesis (patch-synthesis.ts) in windows around the holes
 * of the fill's box, so the hole keeps the model's structure and gets the grain of the photo
 * around it. Each hole region gets a window of its own (grown by half its size, merged where they
 * overlap, as mask dilation does), so the work and the memory follow the holes, not the box.
 * The work is counted from the mask alone before anything runs (`textureWork`).
 */
import { componentBoxes, mergeOverlapping, padBox } from "./components.ts";
import { planPyramid, type SynthesisLevel, type SynthesisOptions, synthesisWork, synthesize } from "./patch-synthesis.ts";
import { cropMask } from "./resize.ts";
import type { Box, Mask, RgbaImage } from "./types.ts";

/** Context around a hole region: half its longer side, within these bounds. */
const MIN_MARGIN = 16;
const MAX_MARGIN = 128;

interface TextureWindow {
  /** In the fill's box. */
  box: Box;
  levels: SynthesisLevel[];
}

export interface TexturePlan {
  windows: TextureWindow[];
  holePixels: number;
  /** Units of about one pixel operation, at most (patch-synthesis.ts: synthesisWork). */
  work: number;
  comparisons: number;
  votes: number;
}

/** The windows and pyramids for the holes of `box` (a fill's region in `mask`), and their work. */
export function planTexture(box: Box, mask: Mask): TexturePlan {
  const local = cropMask(mask, box);
  const grown = componentBoxes(local).map((b) => {
    const margin = Math.min(MAX_MARGIN, Math.max(MIN_MARGIN, Math.ceil(Math.max(b.width, b.height) / 2)));
    return padBox(b, margin, box.width, box.height);
  });
  const plan: TexturePlan = { windows: [], holePixels: 0, work: 0, comparisons: 0, votes: 0 };
  for (const wb of mergeOverlapping(grown)) {
    const levels = planPyramid(cropMask(local, wb).data, wb.width, wb.height);
    if (!levels) continue;
    const w = synthesisWork(levels);
    plan.windows.push({ box: wb, levels });
    plan.holePixels += levels[0].holes.length;
    plan.work += w.work;
    plan.comparisons += w.comparisons;
    plan.votes += w.votes;
  }
  return plan;
}

/** FNV-1a over the box and the fill's hole pixels: the same request, the same seed. */
export function textureSeed(fill: RgbaImage, box: Box, mask: Mask): number {
  let h = 0x811c9dc5;
  const mix = (v: number) => {
    h = Math.imul(h ^ (v & 0xff), 0x01000193);
  };
  for (const v of [box.x, box.y, box.width, box.height]) for (let s = 0; s < 32; s += 8) mix(v >>> s);
  for (let y = 0; y < box.height; y++)
    for (let x = 0; x < box.width; x++)
      if (mask.data[(box.y + y) * mask.width + box.x + x])
        for (let c = 0; c < 3; c++) mix(fill.data[(y * box.width + x) * 4 + c]);
  return h >>> 0;
}

export interface TextureResult {
  windows: number;
  holePixels: number;
  /** What ran, against what the plan counted. */
  comparisons: number;
  votes: number;
  plan: TexturePlan;
}

/**
 * Replaces the hole pixels of `fill` (the box of `image`, whose kept pixels are the original's)
 * by the guided synthesis, the fill itself the guide. Only hole pixels of `fill` change.
 */
export function synthesizeTexture(
  fill: RgbaImage,
  box: Box,
  image: RgbaImage,
  mask: Mask,
  o: Partial<SynthesisOptions> = {},
  plan: TexturePlan = planTexture(box, mask),
): TextureResult {
  const seed = o.seed ?? textureSeed(fill, box, mask);
  const result: TextureResult = { windows: 0, holePixels: 0, comparisons: 0, votes: 0, plan };
  for (const win of plan.windows) {
    const { x: wx, y: wy, width: w, height: h } = win.box;
    // The guide: the photo outside the hole, the fill inside it.
    const guide = new Float32Array(w * h * 3);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const gx = box.x + wx + x;
        const gy = box.y + wy + y;
        const hole = mask.data[gy * mask.width + gx] === 1;
        const src = hole ? fill.data : image.data;
        const at = hole ? ((wy + y) * box.width + wx + x) * 4 : (gy * image.width + gx) * 4;
        for (let c = 0; c < 3; c++) guide[(y * w + x) * 3 + c] = src[at + c];
      }
    const r = synthesize(guide, win.levels, {
      ...o,
      seed: (seed ^ Math.imul(wx + 1, 73856093) ^ Math.imul(wy + 1, 19349663)) >>> 0,
    });
    for (const i of win.levels[0].holes) {
      const x = i % w;
      const y = (i - x) / w;
      const at = ((wy + y) * box.width + wx + x) * 4;
      for (let c = 0; c < 3; c++) fill.data[at + c] = r.pixels[i * 3 + c];
    }
    result.windows++;
    result.holePixels += win.levels[0].holes.length;
    result.comparisons += r.comparisons;
    result.votes += r.votes;
  }
  return result;
}
