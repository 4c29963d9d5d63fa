/**
 * Stage `infer`: each region through the inference backend (shared/gpu-backend.ts), cropped and
 * scaled to its work size and back. The backend is the inference plugin GPU_BACKEND selects
 * (http, fallback, ...). Its own timings, and the model, provider and backend that served the
 * call, go into Server-Timing and the response headers.
 */
import { type Fill, fillRegion } from "../../shared/imaging/pipeline.ts";
import { regionInfer } from "../../shared/plugins/inference/region.ts";
import type { Run } from "./run.ts";

export async function infer(run: Run): Promise<undefined> {
  const { t } = run;
  const call = regionInfer(run.backend, { model: run.options.model, requestId: run.ctx.requestId }, (res, ms) => {
    t.add("gpu", ms);
    t.add("gpu-queue", res.header.timing.queue_ms);
    t.add("gpu-inference", res.header.timing.inference_ms);
    run.model = `${res.header.model.name}@${res.header.model.version}`;
    run.provider = res.header.provider;
    run.servedBy = res.servedBy ?? run.backend.name;
  });
  const image = run.pixels as NonNullable<Run["pixels"]>;
  const mask = run.raster as NonNullable<Run["raster"]>;
  const fills: Fill[] = [];
  for (const r of run.regions) fills.push(await fillRegion(image, mask, r, call));
  run.fills = fills;
  return undefined;
}
