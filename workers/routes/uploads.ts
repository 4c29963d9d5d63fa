/**
 * Uploads, per account: POST /v1/uploads stores an image once under its SHA-256 and answers its id
 * and dimensions; DELETE /v1/uploads/{id} removes it. An id that is not the caller's is a 404,
 * like one that never existed.
 */
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { Problem } from "../../shared/problems.ts";
import { UploadId, UploadInfo } from "../../shared/schemas/uploads.ts";
import type { AppEnv, AppInstance } from "../app-env.ts";
import { ownerOf, requireApiKey } from "../auth.ts";
import { formBodyLimit } from "../body-limit.ts";
import { problemResponses } from "../openapi.ts";
import { deleteUpload, saveUpload } from "../uploads.ts";

export function registerUploads(app: AppInstance): void {
  app.openAPIRegistry.registerPath({
    method: "post",
    path: "/v1/uploads",
    summary: "Store an image for later /v1/inpaint calls (same bytes, same id; visible to this account only)",
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

  const byId = { params: z.object({ id: z.string().openapi({ description: "the upload's id (its SHA-256)" }) }) };
  app.openAPIRegistry.registerPath({
    method: "delete",
    path: "/v1/uploads/{id}",
    summary: "Delete an upload of this account (calls by its id then answer 404; results already made are kept)",
    security: [{ bearer: [] }],
    request: byId,
    responses: { 204: { description: "Deleted" }, ...problemResponses([400, 401, 404, 429]) },
  });

  app.post("/v1/uploads", requireApiKey(), formBodyLimit(1), uploadHandler);
  app.delete("/v1/uploads/:id", requireApiKey(), async (c) => {
    await deleteUpload(c.env, ownerOf(c.get("caller")), idParam(c.req.param("id")));
    return c.body(null, 204);
  });
}

function idParam(raw: string): string {
  const r = UploadId.safeParse(raw);
  if (!r.success) throw new Problem("bad-request", `upload id: ${r.error.issues[0].message}`, { field: "id" });
  return r.data;
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
  const { info, created } = await saveUpload(c.env, ownerOf(c.get("caller")), new Uint8Array(await files[0].arrayBuffer()));
  return c.json(info, created ? 201 : 200);
}
