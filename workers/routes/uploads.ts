/** POST /v1/uploads: store an image once under its SHA-256 and answer its id and dimensions. */
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { Problem } from "../../shared/problems.ts";
import { UploadInfo } from "../../shared/schemas/uploads.ts";
import type { AppEnv, AppInstance } from "../app-env.ts";
import { requireApiKey } from "../auth.ts";
import { formBodyLimit } from "../body-limit.ts";
import { problemResponses } from "../openapi.ts";
import { saveUpload } from "../uploads.ts";

export function registerUploads(app: AppInstance): void {
  app.openAPIRegistry.registerPath({
    method: "post",
    path: "/v1/uploads",
    summary: "Store an image for later /v1/inpaint calls (content-addressed: same bytes, same id)",
    security: [{ bearer: [] }],
    request: {
      body: {
        required: true,
        content: {
          "multipart/form-data": {
            schema: z.object({ file: z.string().openapi({ format: "binary", description: "PNG, JPEG or WebP" }) }),
          },
        },
      },
    },
    responses: {
      200: { description: "Already stored (same bytes)", content: { "application/json": { schema: UploadInfo } } },
      201: { description: "Stored", content: { "application/json": { schema: UploadInfo } } },
      ...problemResponses([400, 401, 413, 415, 422]),
    },
  });

  app.post("/v1/uploads", requireApiKey(), formBodyLimit(1), uploadHandler);
}

async function uploadHandler(c: Context<AppEnv>): Promise<Response> {
  const type = (c.req.header("content-type") ?? "").toLowerCase();
  if (!type.startsWith("multipart/form-data"))
    throw new Problem("unsupported-media-type", "send multipart/form-data with the file `file`", {
      accepted: ["multipart/form-data"],
    });
  let form: FormData;
  try {
    form = await c.req.raw.formData();
  } catch (e) {
    throw new Problem("bad-request", `the multipart body could not be parsed (${(e as Error)?.message ?? e})`);
  }
  const files = form.getAll("file") as unknown as (string | File)[];
  if (files.length !== 1 || typeof files[0] === "string")
    throw new Problem("bad-request", 'send exactly one file in the form field "file"', { field: "file" });
  const { info, created } = await saveUpload(c.env, new Uint8Array(await files[0].arrayBuffer()));
  return c.json(info, created ? 201 : 200);
}
