/**
 * A job's inputs, checked before the job is accepted (so that a bad file is a 4xx now, not a
 * failed job later) and stored in R2 under jobs/<id>/: from the multipart form of /v1/inpaint,
 * or from JSON naming URLs, which the edge fetches under the upload limits and the SSRF guard.
 * What needs decoded pixels (mask coverage) is checked by the run.
 */
import { checkShapesCost } from "../../shared/imaging/rasterize.ts";
import { Problem } from "../../shared/problems.ts";
import type { WebhookEvent } from "../../shared/schemas/jobs.ts";
import { WebhookEventsFilter } from "../../shared/schemas/jobs.ts";
import { StoredUrl } from "../../shared/schemas/limits.ts";
import type { InpaintOptions } from "../../shared/schemas/options.ts";
import type { MaskShapes } from "../../shared/schemas/shapes.ts";
import { UploadId } from "../../shared/schemas/uploads.ts";
import { concatChunks } from "../bytes.ts";
import { EDGE_FORMATS, type EdgeFormat, type ImageHeader, inspectAndDecode, MIME } from "../codecs.ts";
import { type Bindings, uploadLimits } from "../env.ts";
import { invalidOptions, readInpaintForm } from "../form.ts";
import { CreateJobJsonWithPlugins, checkMaskInput } from "../plugins/index.ts";
import { uploadHeader, uploadKey } from "../uploads.ts";
import { assertSafeUrl, safeFetch } from "../webhooks/ssrf.ts";
import { jobSettings } from "./settings.ts";
import type { JobInput } from "./store.ts";

/** Inputs read and checked, not yet stored. */
export interface JobRequest {
  image:
    | { bytes: Uint8Array; header: ImageHeader & { format: EdgeFormat } }
    | { uploadId: string; key: string; header: ImageHeader & { format: EdgeFormat } };
  mask: { bytes: Uint8Array } | { shapes: MaskShapes };
  options: InpaintOptions;
  webhook: string | null;
  webhookEvents: WebhookEvent[];
}

const JOB_EXTRA_FIELDS = ["webhook", "webhook_events_filter"] as const;
const URL_FETCH_TIMEOUT_MS = 20_000;

function events(raw: unknown): WebhookEvent[] {
  if (raw === undefined) return ["completed"];
  const r = WebhookEventsFilter.safeParse(raw);
  if (!r.success) throw invalidOptions(r.error, ["webhook_events_filter"]);
  return r.data;
}

/** The webhook URL after the SSRF guard's static checks (the address is checked at delivery). */
export function checkedWebhook(env: Bindings, raw: string | undefined): string | null {
  if (raw === undefined || raw === "") return null;
  const r = StoredUrl().safeParse(raw.trim());
  if (!r.success && r.error.issues.some((i) => i.code === "too_big")) throw invalidOptions(r.error, ["webhook"]);
  return assertSafeUrl(raw.trim(), { allowLocal: jobSettings(env).allowLocal }).toString();
}

/** The mask's header-level checks by the mask source that reads it (PNG, COCO RLE, ...; no decode). */
const checkMask = (bytes: Uint8Array, image: ImageHeader, options: InpaintOptions, env: Bindings): Promise<void> =>
  checkMaskInput(env, { bytes }, image, options);

/** Reads a URL's body with a byte cap (a Content-Length is not trusted alone). */
async function fetchInput(env: Bindings, url: string, what: "image" | "mask"): Promise<Uint8Array> {
  const limit = uploadLimits(env).maxUploadBytes;
  const res = await safeFetch(url, { timeoutMs: URL_FETCH_TIMEOUT_MS }, env, jobSettings(env).allowLocal);
  if (res.status !== 200) {
    await res.body?.cancel();
    throw new Problem(
      "fetch-failed",
      `${what}_url answered HTTP ${res.status}${res.status >= 300 && res.status < 400 ? " (redirects are not followed)" : ""}`,
      {
        field: `${what}_url`,
        upstream_status: res.status,
      },
    );
  }
  const declared = Number(res.headers.get("content-length") ?? "0");
  const tooLarge = () =>
    new Problem("payload-too-large", `${what}_url is larger than the ${(limit / 2 ** 20).toFixed(1)} MiB limit`, {
      field: `${what}_url`,
      limit_bytes: limit,
    });
  if (declared > limit) {
    await res.body?.cancel();
    throw tooLarge();
  }
  const parts: Uint8Array[] = [];
  let size = 0;
  if (!res.body) return new Uint8Array(0);
  const reader = res.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > limit) {
        await reader.cancel().catch(() => {});
        throw tooLarge();
      }
      parts.push(value);
    }
  } catch (e) {
    if (e instanceof Problem) throw e;
    // The body broke while it was read: cut short, a connection dropped, bad chunking, the timeout.
    const name = (e as Error)?.name;
    const message = String((e as Error)?.message ?? e);
    const why =
      name === "TimeoutError" || name === "AbortError"
        ? `no complete body within ${URL_FETCH_TIMEOUT_MS} ms`
        : // workerd words a response it cannot parse (bad chunking) as an opaque "internal error".
          message.startsWith("internal error")
          ? "the response's framing could not be read"
          : message;
    throw new Problem("fetch-failed", `${what}_url: the body broke after ${size} bytes: ${why}`, {
      field: `${what}_url`,
      received_bytes: size,
    });
  }
  return concatChunks(parts, size);
}

/** `owner`'s upload `id`, referenced by its key (not copied); 404 when it is not theirs. */
async function ownUpload(env: Bindings, owner: string, id: string): Promise<JobRequest["image"]> {
  return { uploadId: id, key: uploadKey(owner, id), header: await uploadHeader(env, owner, id) };
}

/** POST /v1/jobs as multipart/form-data: the /v1/inpaint form plus webhook fields. */
export async function jobRequestFromForm(env: Bindings, owner: string, req: Request): Promise<JobRequest> {
  const form = await readInpaintForm(req, JOB_EXTRA_FIELDS);
  const webhook = checkedWebhook(env, form.extras.webhook);
  const webhookEvents = events(form.extras.webhook_events_filter);
  const image = form.image
    ? { bytes: form.image, header: await inspectAndDecode(form.image, "image", uploadLimits(env), EDGE_FORMATS) }
    : await ownUpload(env, owner, form.imageId as string);
  if (form.mask) await checkMask(form.mask, image.header, form.options, env);
  else checkShapesCost((form.shapes as MaskShapes).shapes, image.header.width, image.header.height);
  const mask = form.mask ? { bytes: form.mask } : { shapes: form.shapes as MaskShapes };
  return { image, mask, options: form.options, webhook, webhookEvents };
}

/** POST /v1/jobs as JSON: image by URL (or upload id), mask by URL or shapes. */
export async function jobRequestFromJson(env: Bindings, owner: string, raw: unknown): Promise<JobRequest> {
  const r = CreateJobJsonWithPlugins.safeParse(raw);
  if (!r.success) throw invalidOptions(r.error);
  const { image_url, image_id, mask_url, mask_shapes, webhook, webhook_events_filter, ...opts } = r.data;
  const options = opts as InpaintOptions;
  if ((image_url === undefined) === (image_id === undefined))
    throw new Problem("bad-request", 'send exactly one of "image_url" and "image_id"', { fields: ["image_url", "image_id"] });
  if ((mask_url === undefined) === (mask_shapes === undefined))
    throw new Problem("bad-request", 'send exactly one of "mask_url" and "mask_shapes"', { fields: ["mask_url", "mask_shapes"] });
  const hook = checkedWebhook(env, webhook);
  // Every URL through the guard's static checks before any of them is fetched.
  const { allowLocal } = jobSettings(env);
  for (const u of [image_url, mask_url]) if (u !== undefined) assertSafeUrl(u, { allowLocal });
  let image: JobRequest["image"];
  if (image_id !== undefined) {
    const id = UploadId.safeParse(image_id);
    if (!id.success) throw new Problem("bad-request", `image_id: ${id.error.issues[0].message}`, { field: "image_id" });
    image = await ownUpload(env, owner, id.data);
  } else {
    const bytes = await fetchInput(env, image_url as string, "image");
    image = { bytes, header: await inspectAndDecode(bytes, "image", uploadLimits(env), EDGE_FORMATS) };
  }
  let mask: JobRequest["mask"];
  if (mask_url !== undefined) {
    const bytes = await fetchInput(env, mask_url, "mask");
    await checkMask(bytes, image.header, options, env);
    mask = { bytes };
  } else {
    checkShapesCost((mask_shapes as MaskShapes).shapes, image.header.width, image.header.height);
    mask = { shapes: mask_shapes as MaskShapes };
  }
  return { image, mask, options, webhook: hook, webhookEvents: webhook_events_filter ?? ["completed"] };
}

/** Stores the inputs under jobs/<id>/ (an upload id is referenced, not copied). */
export async function storeInputs(env: Bindings, jobId: string, r: JobRequest, base: string): Promise<JobInput> {
  const h = r.image.header;
  let imageKey: string;
  if ("bytes" in r.image) {
    imageKey = `jobs/${jobId}/image`;
    await env.BLOBS.put(imageKey, r.image.bytes, { httpMetadata: { contentType: MIME[h.format] } });
  } else imageKey = r.image.key;
  let mask: JobInput["mask"];
  if ("bytes" in r.mask) {
    mask = { key: `jobs/${jobId}/mask` };
    await env.BLOBS.put(mask.key, r.mask.bytes, { httpMetadata: { contentType: "image/png" } });
  } else mask = { shapes: r.mask.shapes };
  return { image: { key: imageKey, format: h.format, width: h.width, height: h.height }, mask, options: r.options, base };
}

/** Deletes what storeInputs wrote for a job that was not accepted after all. */
export async function deleteJobObjects(env: Bindings, jobId: string): Promise<void> {
  await env.BLOBS.delete([`jobs/${jobId}/image`, `jobs/${jobId}/mask`, `jobs/${jobId}/result`]);
}
