/**
 * Stage `infer`: each region through the inference backend (shared/gpu-backend.ts), cropped and
 * scaled to its work size and back. The backend's own timings and the model and provider that
 * served the call go into Server-Timing and the response headers.
 */
import { type Fill, fillRegion, type InferFn } from "../../shared/imaging/pipeline.ts";
import { rgbaToRgb, rgbToRgba } from "../../shared/imaging/pixels.ts";
import { PROTOCOL_VERSION } from "../../shared/protocol.ts";
import type { Run } from "./run.ts";

export async function infer(run: Run): Promise<undefined> {
  const { t, options: o, ctx } = run;
  const requestId = ctx.requestId;
  const call: InferFn = async (part, pmask) => {
    const sent = Date.now();
    const res = await run.backend.infer(
      {
        header: { v: PROTOCOL_VERSION, width: part.width, height: part.height, model: o.model, request_id: requestId },
        rgb: rgbaToRgb(part),
        mask: pmask.data,
      },
      { requestId },
    );
    t.add("gpu", Date.now() - sent);
    t.add("gpu-queue", res.header.timing.queue_ms);
    t.add("gpu-inference", res.header.timing.inference_ms);
    run.model = `${res.header.model.name}@${res.header.model.version}`;
    run.provider = res.header.provider;
    return rgbToRgba(res.rgb, part.width, part.height);
  };
  const image = run.pixels as NonNullable<Run["pixels"]>;
  const mask = run.raster as NonNullable<Run["raster"]>;
  const fills: Fill[] = [];
  for (const r of run.regions) fills.push(await fillRegion(image, mask, r, call));
  run.fills = fills;
  return undefined;
}
