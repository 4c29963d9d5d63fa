/**
 * Stage `plan`: the disjoint working regions the model will see (IOPaint's HD strategies:
 * original, resize, or one margin-grown crop per hole), decided before any GPU call.
 */
import { planWork } from "../../shared/imaging/pipeline.ts";
import type { Run } from "./run.ts";

export async function plan(run: Run): Promise<undefined> {
  run.regions = planWork(run.raster as NonNullable<Run["raster"]>, run.options);
  return undefined;
}
