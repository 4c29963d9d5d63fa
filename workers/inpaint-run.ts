/**
 * One inpaint call, as a list of stages (one module each in workers/pipeline/). A stage adds to
 * the run or ends it with a response: a replayed Idempotency-Key, a 304, a cache hit, a
 * pass-through for an empty mask, or the result. Only hole pixels change. Used by POST
 * /v1/inpaint and by job runs (workers/jobs/run.ts); problems are thrown (workers/app.ts renders them).
 */
import type { Bindings } from "./env.ts";
import type { InpaintForm } from "./form.ts";
import { cache } from "./pipeline/cache.ts";
import { decode } from "./pipeline/decode.ts";
import { encode } from "./pipeline/encode.ts";
import { infer } from "./pipeline/infer.ts";
import { mask } from "./pipeline/mask.ts";
import { meter } from "./pipeline/meter.ts";
import { plan } from "./pipeline/plan.ts";
import { postProcess } from "./pipeline/post-process.ts";
import { read } from "./pipeline/read.ts";
import type { Run, RunContext, Stage } from "./pipeline/run.ts";
import { store } from "./pipeline/store.ts";
import { edgePlugins } from "./plugins/index.ts";
import { Timings } from "./timing.ts";

export type { RunContext };

/** The stages, in order, by the name Server-Timing reports them under. */
export const STAGES: readonly (readonly [string, Stage])[] = [
  ["read", read], // header checks, no decode
  ["mask", mask], // the mask, normalised and hashed
  ["meter", meter], // Idempotency-Key, empty-mask pass-through, credit hold
  ["cache", cache], // key, 304, hit, coalesced wait
  ["decode", decode], // mask raster and coverage, then pixels, upright
  ["plan", plan], // working regions
  ["infer", infer], // each region through the inference backend
  ["post-process", postProcess], // post-processors, composite
  ["encode", encode],
  ["store", store], // cache the result, respond
];

export async function runInpaint(env: Bindings, form: InpaintForm, ctx: RunContext): Promise<Response> {
  // Stages fill in the rest of the run as it goes (see workers/pipeline/run.ts).
  const run = {
    env,
    ctx,
    form,
    options: form.options,
    t: new Timings(),
    plugins: await edgePlugins(env),
    regions: [],
    fills: [],
    model: "",
    provider: "",
    servedBy: "",
    stored: false,
    bypass: false,
    cleanups: [],
  } as unknown as Run;
  try {
    for (const [name, stage] of STAGES) {
      const done = await stage(run);
      run.t.mark(name);
      if (done) return done;
    }
    throw new Error("the last stage must answer");
  } finally {
    for (const cleanup of run.cleanups.reverse()) await cleanup();
  }
}
