/**
 * Stage `plan`: the disjoint working regions the model will see (IOPaint's HD strategies:
 * original, resize, or one margin-grown crop per hole), decided before any GPU call. Then the
 * post-processors' work on them (texture synthesis grows with the hole): over the bound, 422
 * mask-too-large here, before the model runs.
 */
import { planWork } from "../../shared/imaging/pipeline.ts";
import type { Run } from "./run.ts";

export async function plan(run: Run): Promise<undefined> {
  const raster = run.raster as NonNullable<Run["raster"]>;
  run.regions = planWork(raster, run.options);
  run.plugins.checkPostWork(run.regions, raster, run.options);
  return undefined;
}
