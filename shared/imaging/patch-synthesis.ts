/**
 * Guided patch synthesis of one window (Wexler, Shechtman and Irani 2007, with PatchMatch of
 * Barnes et al. 2009 for the nearest-neighbour field): every 7x7 patch that touches the hole is
 * matched to a 7x7 patch lying wholly in the known part of the window, coarse to fine over a
 * pyramid, and the hole is rebuilt by letting the matched patches vote. A guide (the model's fill)
 * starts the coarsest level and ties each match to it: the distance adds the squared difference
 * between the guide's low-pass at the target and the source's, so a patch is taken from where the
 * image looks like what the model drew. At the end the hole keeps the guide's low-pass and takes
 * the synthesis' high-pass: the structure is the model's, the texture the photo's.
 *
 * Pure and deterministic: a seeded integer PRNG, float arithmetic in a fixed order, no
 * transcendental functions. The work is known before it runs (`synthesisWork`) from the hole alone.
 */
import { boxBlur, dilateSquare, halve, halveHole } from "./lowpass.ts";
import { mulberry32 } from "./prng.ts";

/** Patch side and half side. */
export const PATCH = 7;
const HALF = 3;
const PATCH_PIXELS = PATCH * PATCH;

/** The pyramid's shape for one window, from the hole alone (finest level first). */
export interface SynthesisLevel {
  width: number;
  height: number;
  /** 1 = hole. */
  hole: Uint8Array;
  /** Indices of the hole pixels. */
  holes: Int32Array;
  /** Centres of the patches that touch the hole (their patches lie inside the window). */
  targets: Int32Array;
  /** Centres of the patches wholly known: what may be copied. */
  sources: Int32Array;
  /** 1 at a source centre. */
  valid: Uint8Array;
}

export interface SynthesisOptions {
  /** Seeds the random field and the random search. */
  seed: number;
  /** Weight of the guidance term, per patch pixel, against the patch's squared colour difference. */
  guidance?: number;
  /** Box radius of the low-pass (two passes: radius 3 is a tent of sigma ~2.8 px). */
  lowpassRadius?: number;
  /** The finest level's last reconstruction: the vote (default), or each hole pixel from its own match's centre. */
  reconstruction?: "centre" | "vote";
}

/** EM iterations (estimate, match, vote) per level, coarsest first; fewer levels drop the middle ones. */
const ITERATIONS = [5, 3, 2];
/** PatchMatch passes in an EM iteration: more on the first of a level (a random or upsampled field). */
const passes = (coarsest: boolean, e: number) => (e > 0 ? 1 : coarsest ? 4 : 2);
const iterationsFor = (levels: number): number[] =>
  levels === 1 ? [ITERATIONS[0]] : [ITERATIONS[0], ...ITERATIONS.slice(-(levels - 1))];
/** Random-search candidates per target and pass: radius max(w, h), halved down to 1. */
const searchSteps = (w: number, h: number) => 32 - Math.clz32(Math.max(w, h));
/** Fewer known patches than this at a coarse level and the pyramid stops there. */
const MIN_COARSE_SOURCES = 16;
/** Per-pixel passes of a level that are not patch work (pyramid, low-pass, masks, clearing), counted generously. */
export const WINDOW_PASSES = 64;

function level(hole: Uint8Array, w: number, h: number): SynthesisLevel {
  const near = dilateSquare(hole, w, h, HALF); // a hole pixel within the patch around it
  const targets: number[] = [];
  const sources: number[] = [];
  const holes: number[] = [];
  const valid = new Uint8Array(w * h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      if (hole[i]) holes.push(i);
      if (x < HALF || y < HALF || x >= w - HALF || y >= h - HALF) continue;
      if (near[i]) targets.push(i);
      else {
        sources.push(i);
        valid[i] = 1;
      }
    }
  return {
    width: w,
    height: h,
    hole,
    holes: Int32Array.from(holes),
    targets: Int32Array.from(targets),
    sources: Int32Array.from(sources),
    valid,
  };
}

/**
 * Up to `maxLevels` levels for a w x h window and its hole, finest first; a coarser level is
 * kept only while it still has room and known patches. Null when there is nothing to do: no hole,
 * a window smaller than a patch, or no wholly known patch to copy.
 */
export function planPyramid(hole: Uint8Array, w: number, h: number, maxLevels = 3): SynthesisLevel[] | null {
  if (w < PATCH || h < PATCH) return null;
  const finest = level(hole, w, h);
  if (finest.holes.length === 0 || finest.sources.length === 0) return null;
  const out = [finest];
  let [cw, ch, ch0] = [w, h, hole];
  while (out.length < maxLevels) {
    ch0 = halveHole(ch0, cw, ch);
    cw = Math.ceil(cw / 2);
    ch = Math.ceil(ch / 2);
    if (Math.min(cw, ch) < 2 * PATCH) break;
    const l = level(ch0, cw, ch);
    if (l.sources.length < MIN_COARSE_SOURCES) break;
    out.push(l);
  }
  return out;
}

export interface SynthesisWork {
  /** Units of about one pixel operation: 49 a patch comparison or a patch's vote, WINDOW_PASSES a window pixel and level. */
  work: number;
  /** Patch comparisons at most (propagation and random-search candidates that are valid sources). */
  comparisons: number;
  /** Patch votes. */
  votes: number;
}

/** The work `synthesize` will do on these levels, at most: targets x iterations x candidates. */
export function synthesisWork(levels: readonly SynthesisLevel[]): SynthesisWork {
  const its = iterationsFor(levels.length);
  let comparisons = 0;
  let votes = 0;
  let pixels = 0;
  for (let l = levels.length - 1; l >= 0; l--) {
    const { targets, width, height } = levels[l];
    const t = targets.length;
    const em = its[levels.length - 1 - l];
    const coarsest = l === levels.length - 1;
    const candidates = 2 + searchSteps(width, height);
    if (!coarsest) votes += t; // the upsampled field's first vote
    for (let e = 0; e < em; e++) {
      comparisons += t + passes(coarsest, e) * t * candidates;
      votes += t;
    }
    pixels += width * height;
  }
  return { work: PATCH_PIXELS * (comparisons + votes) + WINDOW_PASSES * pixels, comparisons, votes };
}

export interface SynthesisResult {
  /** The window, 3 floats a pixel: the guide outside the hole; inside it, the guide's low-pass plus the synthesis' high-pass. */
  pixels: Float32Array;
  comparisons: number;
  votes: number;
}

/**
 * Synthesises the hole of a window. `guide` is the window, 3 floats a pixel (RGB): the known
 * pixels as they are, the hole as the model filled it. `levels` from planPyramid on its hole.
 */
export function synthesize(guide: Float32Array, levels: readonly SynthesisLevel[], o: SynthesisOptions): SynthesisResult {
  const rnd = mulberry32(o.seed);
  const lambda = (o.guidance ?? 0.5) * PATCH_PIXELS;
  const lpr = o.lowpassRadius ?? 3;
  const its = iterationsFor(levels.length);
  const guides = [guide];
  for (let l = 1; l < levels.length; l++) guides.push(halve(guides[l - 1], levels[l - 1].width, levels[l - 1].height, 3).data);
  let comparisons = 0;
  let votes = 0;
  let pass = 0;
  let coarseField: Int32Array | null = null;
  let coarseW = 0;
  let img = guide;

  for (let l = levels.length - 1; l >= 0; l--) {
    const { width: w, height: h, hole, holes, targets, sources, valid } = levels[l];
    const coarsest = l === levels.length - 1;
    const g = guides[l];
    const lpg = boxBlur(g, w, h, 3, lpr);
    const cur = g.slice(); // known pixels are the photo's; the hole starts as the guide (coarsest) or the first vote
    const field = new Int32Array(w * h).fill(-1);
    const dist = new Float64Array(w * h);
    const acc = new Float64Array(w * h * 3);
    const wsum = new Float64Array(w * h);
    const forward = [1, w]; // scanning forward, the neighbours before: left and up
    const backward = [-1, -w];
    const randomSource = () => sources[rnd() % sources.length];

    // Squared distance of target patch p to source patch q, with the guidance term; stops past `best`.
    const distance = (p: number, q: number, best: number): number => {
      comparisons++;
      let d = 0;
      for (let c = 0; c < 3; c++) {
        const e = lpg[p * 3 + c] - lpg[q * 3 + c];
        d += e * e;
      }
      d *= lambda;
      for (let dy = -HALF; dy <= HALF && d < best; dy++) {
        const a = (p + dy * w - HALF) * 3;
        const b = (q + dy * w - HALF) * 3;
        for (let k = 0; k < PATCH * 3; k++) {
          const e = cur[a + k] - cur[b + k];
          d += e * e;
        }
      }
      return d;
    };

    // Every patch over the hole puts its source's pixels into the hole pixels it covers; weighted
    // by how well it matched (1 / (1 + d / mean d)), or evenly for a field just upsampled.
    const vote = (weighted: boolean) => {
      for (const i of holes) {
        wsum[i] = 0;
        acc[i * 3] = acc[i * 3 + 1] = acc[i * 3 + 2] = 0;
      }
      let mean = 0;
      if (weighted) {
        for (const p of targets) mean += dist[p];
        mean = mean / Math.max(1, targets.length) + 1;
      }
      for (const p of targets) {
        votes++;
        const q = field[p];
        const wt = weighted ? mean / (mean + dist[p]) : 1;
        for (let dy = -HALF; dy <= HALF; dy++)
          for (let dx = -HALF; dx <= HALF; dx++) {
            const off = dy * w + dx;
            const x = p + off;
            if (!hole[x]) continue;
            const s = (q + off) * 3;
            acc[x * 3] += wt * cur[s];
            acc[x * 3 + 1] += wt * cur[s + 1];
            acc[x * 3 + 2] += wt * cur[s + 2];
            wsum[x] += wt;
          }
      }
      for (const i of holes) if (wsum[i] > 0) for (let c = 0; c < 3; c++) cur[i * 3 + c] = acc[i * 3 + c] / wsum[i];
    };

    // The field: random at the coarsest level, else each target's parent match, shifted to its child.
    for (const p of targets) {
      if (coarseField) {
        const x = p % w;
        const y = (p - x) / w;
        const qc = coarseField[(y >> 1) * coarseW + (x >> 1)];
        if (qc >= 0) {
          const qx = 2 * (qc % coarseW) + (x & 1);
          const qy = 2 * Math.floor(qc / coarseW) + (y & 1);
          if (qx < w && qy < h && valid[qy * w + qx]) {
            field[p] = qy * w + qx;
            continue;
          }
        }
      }
      field[p] = randomSource();
    }
    if (!coarsest) vote(false);

    for (let e = 0; e < its[levels.length - 1 - l]; e++) {
      for (const p of targets) dist[p] = distance(p, field[p], Number.POSITIVE_INFINITY);
      for (let n = passes(coarsest, e); n > 0; n--, pass++) {
        const step = pass % 2 === 0 ? 1 : -1;
        for (let k = step > 0 ? 0 : targets.length - 1; k >= 0 && k < targets.length; k += step) {
          const p = targets[k];
          let best = dist[p];
          let bq = field[p];
          // Propagation: the neighbour's match, shifted by one (left and up, or right and down).
          for (const shift of step > 0 ? forward : backward) {
            const from = field[p - shift];
            if (from < 0 || from + shift === bq || !valid[from + shift]) continue;
            const d = distance(p, from + shift, best);
            if (d < best) {
              best = d;
              bq = from + shift;
            }
          }
          // Random search around the best, in windows halving from the whole level.
          for (let r = Math.max(w, h); r >= 1; r >>= 1) {
            const bx = bq % w;
            const by = (bq - bx) / w;
            const qx = Math.min(w - 1 - HALF, Math.max(HALF, bx + (rnd() % (2 * r + 1)) - r));
            const qy = Math.min(h - 1 - HALF, Math.max(HALF, by + (rnd() % (2 * r + 1)) - r));
            const q = qy * w + qx;
            if (q === bq || !valid[q]) continue;
            const d = distance(p, q, best);
            if (d < best) {
              best = d;
              bq = q;
            }
          }
          field[p] = bq;
          dist[p] = best;
        }
      }
      vote(true);
    }
    // With "centre", the last reconstruction of the finest level copies each hole pixel from the
    // centre of its own patch's match (Newson et al. 2014): sharper on noise-like texture, which a
    // mean of many matches smooths, but a mosaic of unrelated pixels there (on val it scores more
    // sharpness and a worse texture distance than the vote: docs/plugins.md).
    if (l === 0 && o.reconstruction === "centre")
      for (const i of holes) if (field[i] >= 0) for (let c = 0; c < 3; c++) cur[i * 3 + c] = cur[field[i] * 3 + c];
    coarseField = field;
    coarseW = w;
    img = cur;
  }

  // The guide's low-pass, the synthesis' high-pass.
  const { width: w, height: h, holes } = levels[0];
  const lpg = boxBlur(guide, w, h, 3, lpr);
  const lps = boxBlur(img, w, h, 3, lpr);
  const out = guide.slice();
  for (const i of holes) for (let c = 0; c < 3; c++) out[i * 3 + c] = img[i * 3 + c] - lps[i * 3 + c] + lpg[i * 3 + c];
  return { pixels: out, comparisons, votes };
}
