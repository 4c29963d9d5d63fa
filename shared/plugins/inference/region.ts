/**
 * A backend as the pipeline's per-region inference (shared/imaging/pipeline.ts InferFn): the
 * region in the wire format (RGB + mask), the answer back as RGBA. The edge and the CLI both
 * call the model this way.
 */
import type { GpuBackend, InferResult } from "../../gpu-backend.ts";
import type { InferFn } from "../../imaging/pipeline.ts";
import { rgbaToRgb, rgbToRgba } from "../../imaging/pixels.ts";
import { PROTOCOL_VERSION } from "../../protocol.ts";

export function regionInfer(
  backend: GpuBackend,
  o: { model?: string; requestId?: string },
  observe?: (res: InferResult, ms: number) => void,
): InferFn {
  return async (part, pmask) => {
    const sent = Date.now();
    const res = await backend.infer(
      {
        header: { v: PROTOCOL_VERSION, width: part.width, height: part.height, model: o.model, request_id: o.requestId },
        rgb: rgbaToRgb(part),
        mask: pmask.data,
      },
      { requestId: o.requestId },
    );
    observe?.(res, Date.now() - sent);
    return rgbToRgba(res.rgb, part.width, part.height);
  };
}
