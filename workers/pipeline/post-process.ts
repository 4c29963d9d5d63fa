/**
 * Stage `post-process`: each fill through the post-processor plugins the request turns on (in
 * config order: seam_blend, feather, grain, ...), then composited into the image: only hole
 * pixels change. The regions are disjoint, so each post-processor still sees original pixels
 * around its fill. The mask and the fills are let go of here.
 */
import { finishFill } from "../../shared/imaging/pipeline.ts";
import type { Run } from "./run.ts";

export async function postProcess(run: Run): Promise<undefined> {
  const image = run.pixels as NonNullable<Run["pixels"]>;
  const mask = run.raster as NonNullable<Run["raster"]>;
  const chosen = run.plugins.postProcessorsFor(run.options);
  for (const fill of run.fills)
    await finishFill(image, mask, fill, async (f, img, m) => {
      for (const p of chosen) await p.hooks.process(f, img, m, run.options);
    });
  run.fills = [];
  run.raster = undefined;
  return undefined;
}
