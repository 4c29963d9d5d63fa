/**
 * POST /v1/inpaint: form -> header checks (no decode yet) -> mask -> shared pipeline, whose
 * per-region inference is a GPU backend call -> encode. Only hole pixels of the original change.
 */
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { holeCount, maskFromImage } from "../../shared/imaging/mask.ts";
import { type InferFn, inpaintPipeline } from "../../shared/imaging/pipeline.ts";
import { rgbaToRgb, rgbToRgba } from "../../shared/imaging/pixels.ts";
import type { RgbaImage } from "../../shared/imaging/types.ts";
import { Problem } from "../../shared/problems.ts";
import { PROTOCOL_VERSION } from "../../shared/protocol.ts";
import { InpaintOptions } from "../../shared/schemas/options.ts";
import type { AppEnv, AppInstance } from "../app-env.ts";
import { requireApiKey } from "../auth.ts";
import { decodeUpload, EDGE_FORMATS, type EdgeFormat, encodeImage, inspectUpload, MIME } from "../codecs.ts";
import { uploadLimits } from "../env.ts";
import { readInpaintForm } from "../form.ts";
import { backendFor } from "../gpu/index.ts";
import { problemResponses } from "../openapi.ts";
import { Timings } from "../timing.ts";

const EMPTY = new Uint8Array(0);

/** Multipart overhead allowed on top of the two files. */
const FORM_SLACK = 64 * 1024;

export function registerInpaint(app: AppInstance): void {
  app.openAPIRegistry.registerPath({
    method: "post",
    path: "/v1/inpaint",
    summary: "Inpaint the white area of `mask` in `image`",
    description:
      "Every pixel outside the (binarised, dilated/eroded) mask is returned unchanged. Limits: see the 413 responses; " +
      "sizes are checked from the image header before decoding.",
    security: [{ bearer: [] }],
    request: {
      body: {
        required: true,
        content: {
          "multipart/form-data": {
            schema: InpaintOptions.extend({
              image: z.string().openapi({ format: "binary", description: "PNG, JPEG or WebP" }),
              mask: z.string().openapi({ format: "binary", description: "PNG, same size; white (> 127) = hole" }),
            }),
          },
        },
      },
    },
    responses: {
      200: {
        description: "The inpainted image in the input's format (PNG keeps alpha), unless output_format says otherwise",
        headers: {
          "X-Request-Id": { schema: { type: "string" } },
          "Server-Timing": { schema: { type: "string" }, description: "edge and GPU stage durations" },
        },
        content: Object.fromEntries(Object.values(MIME).map((m) => [m, { schema: z.string().openapi({ format: "binary" }) }])),
      },
      ...problemResponses([400, 401, 413, 415, 422, 502, 503, 504]),
    },
  });

  app.post(
    "/v1/inpaint",
    requireApiKey(),
    (c, next) => {
      const max = 2 * uploadLimits(c.env).maxUploadBytes + FORM_SLACK;
      return bodyLimit({
        maxSize: max,
        onError: () => {
          throw new Problem("payload-too-large", `the request body exceeds ${max} bytes (two files and the form)`, {
            limit_bytes: max,
          });
        },
      })(c, next);
    },
    inpaintHandler,
  );
}

async function inpaintHandler(c: Context<AppEnv>): Promise<Response> {
  const t = new Timings();
  const limits = uploadLimits(c.env);
  const requestId = c.get("requestId");
  // Locals, not a form object, so each upload can be let go of as soon as it is decoded.
  let { image: imageUpload, mask: maskUpload, options: o } = await readInpaintForm(c.req.raw);

  // Everything below up to the decode reads headers only: bombs and mismatches cost nothing.
  const ih = inspectUpload(imageUpload, "image", limits, EDGE_FORMATS);
  const mh = inspectUpload(maskUpload, "mask", limits, ["png"]);
  if (mh.width !== ih.width || mh.height !== ih.height)
    throw new Problem("mask-mismatch", `mask is ${mh.width}x${mh.height} but the image is ${ih.width}x${ih.height}`, {
      image: { width: ih.width, height: ih.height },
      mask: { width: mh.width, height: mh.height },
    });
  const format: EdgeFormat = o.output_format ?? ih.format;
  t.mark("read");

  const mask = maskFromImage(await decodeUpload(maskUpload, mh, "mask"), o.mask_source, o.invert_mask);
  maskUpload = EMPTY;
  t.mark("mask");
  const headers: Record<string, string> = { "Content-Type": MIME[format] };
  if (holeCount(mask) === 0 && format === ih.format) {
    // Nothing to fill: the upload itself, byte for byte, and no GPU call.
    return c.body(imageUpload as Uint8Array<ArrayBuffer>, 200, {
      ...headers,
      "X-Inpaint-Regions": "0",
      "Server-Timing": t.header(),
    });
  }

  let image: RgbaImage | undefined = await decodeUpload(imageUpload, ih, "image");
  imageUpload = EMPTY;
  t.mark("decode");

  const backend = backendFor(c.env);
  let model = "";
  let provider = "";
  const infer: InferFn = async (part, pmask) => {
    const sent = Date.now();
    const res = await backend.infer(
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
    model = `${res.header.model.name}@${res.header.model.version}`;
    provider = res.header.provider;
    return rgbToRgba(res.rgb, part.width, part.height);
  };
  const { image: result, regions } = await inpaintPipeline(image, mask, o, infer);
  image = undefined; // the original pixels are no longer needed: let the encoder have the memory
  t.mark("pipeline");
  const bytes = await encodeImage(result, format, o.jpeg_quality);
  t.mark("encode");
  t.add("edge", Date.now() - t.start - t.get("gpu"));

  if (model) headers["X-Model"] = model;
  if (provider) headers["X-Gpu-Provider"] = provider;
  return c.body(bytes as Uint8Array<ArrayBuffer>, 200, {
    ...headers,
    "X-Inpaint-Regions": String(regions.length),
    "Server-Timing": t.header(),
  });
}
