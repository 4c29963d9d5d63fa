/**
 * Stage `post-process`: each fill through the post-processors, then composited into the image
 * (only hole pixels change). The regions are disjoint, so each post-processor still sees original
 * pixels around its fill. The mask and the fills are let go of here.
 */
import { featherFill } from "../../shared/imaging/composite.ts";
import { finishFill } from "../../shared/imaging/pipeline.ts";
import type { Run } from "./run.ts";

export async function postProcess(run: Run): Promise<undefined> {
  const image = run.pixels as NonNullable<Run["pixels"]>;
  const mask = run.raster as NonNullable<Run["raster"]>;
  const feather = run.options.feather;
  for (const fill of run.fills)
    await finishFill(image, mask, fill, (f, img, m) => featherFill(f.image, f.region.box, img, m, feather));
  run.fills = [];
  run.raster = undefined;
  return undefined;
}
