/**
 * POST /v1/inpaint: reads the form, then one inpaint call (workers/inpaint-run.ts) whose response
 * is the answer. Billing (credit hold, Idempotency-Key) wraps it: workers/billing/meter.ts.
 */
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { IdempotencyKey } from "../../shared/schemas/limits.ts";
import type { AppEnv, AppInstance } from "../app-env.ts";
import { ownerOf, requireApiKey } from "../auth.ts";
import { meterCall } from "../billing/meter.ts";
import { formBodyLimit } from "../body-limit.ts";
import { MIME } from "../codecs.ts";
import { readInpaintForm } from "../form.ts";
import { runInpaint } from "../inpaint-run.ts";
import { billingHeaders, problemResponses } from "../openapi.ts";
import { RequestOptions } from "../plugins/index.ts";

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
      headers: z.object({
        "Idempotency-Key": IdempotencyKey.optional().openapi({
          description:
            "account keys: a repeat with the same key and request replays the stored response (charged nothing, " +
            "`Idempotent-Replayed: true`); another request with the key: 422; while the first runs: 409",
        }),
      }),
      body: {
        required: true,
        content: {
          "multipart/form-data": {
            schema: RequestOptions.extend({
              image: z.string().optional().openapi({ format: "binary", description: "PNG, JPEG or WebP (or image_id)" }),
              image_id: z.string().optional().openapi({ description: "id from POST /v1/uploads, instead of image" }),
              mask: z
                .string()
                .optional()
                .openapi({
                  format: "binary",
                  description:
                    "PNG, same size (stored pixel grid); white (> 127) = hole. Or a JSON file a loaded mask source reads: " +
                    'COCO RLE {"size":[h,w],"counts":...}, shapes {"shapes":[...]} (GET /v1/plugins lists the mask sources)',
                }),
              mask_shapes: z
                .string()
                .optional()
                .openapi({
                  description:
                    'instead of mask: {"shapes":[{"type":"rect","x","y","width","height"},{"type":"stroke","points":[[x,y],...],"width"},{"type":"polygon","points":[[x,y],...]}]} ' +
                    'or the bare array [...], in stored image pixels (before EXIF orientation). E.g. [{"type":"rect","x":10,"y":10,"width":40,"height":30}]',
                }),
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
          "X-Cache": { schema: { type: "string", enum: ["HIT", "MISS", "BYPASS"] } },
          ETag: { schema: { type: "string" }, description: "the cache key; send it as If-None-Match for a 304" },
          "Server-Timing": {
            schema: { type: "string" },
            description:
              "one entry per stage (read, mask, meter, cache, decode, plan, infer, post-process, encode, store), gpu, edge, total",
          },
          "X-Gpu-Backend": {
            schema: { type: "string" },
            description: "the inference backend that served the regions (http; primary:http or secondary:http with fallback)",
          },
          ...billingHeaders,
        },
        content: Object.fromEntries(Object.values(MIME).map((m) => [m, { schema: z.string().openapi({ format: "binary" }) }])),
      },
      304: { description: "If-None-Match named this request's ETag: your copy is current" },
      ...problemResponses([400, 401, 402, 404, 409, 413, 415, 422, 429, 502, 503, 504]),
    },
  });

  app.post("/v1/inpaint", requireApiKey(), formBodyLimit(2), meterCall(), inpaintHandler);
}

async function inpaintHandler(c: Context<AppEnv>): Promise<Response> {
  const form = await readInpaintForm(c.req.raw);
  const res = await runInpaint(c.env, form, {
    requestId: c.get("requestId"),
    owner: ownerOf(c.get("caller")),
    meter: c.get("meter"),
    cacheControl: c.req.header("cache-control"),
    ifNoneMatch: c.req.header("if-none-match"),
  });
  // Through the context, so the headers middleware set on it (request id, rate limit) are kept.
  return c.body(res.body as ReadableStream, { status: res.status as 200, headers: res.headers });
}
