/**
 * Async jobs: POST /v1/jobs (multipart like /v1/inpaint, or JSON with URLs) answers 202 with the
 * job, or waits for it with `Prefer: wait=N`; GET /v1/jobs/{id}, POST /v1/jobs/{id}/cancel,
 * GET /v1/jobs/{id}/result (signed URL or the owner's key), GET /v1/jobs/{id}/deliveries.
 * Jobs are visible to their owner only (another key gets 404, not 403: ids are not confirmed).
 */
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { Problem } from "../../shared/problems.ts";
import { DeliveryList, FINAL_STATUSES, Job, JobList } from "../../shared/schemas/jobs.ts";
import { IdempotencyKey } from "../../shared/schemas/limits.ts";
import type { AppEnv, AppInstance } from "../app-env.ts";
import { ownerOf, requireApiKey } from "../auth.ts";
import { balanceOf } from "../billing/ledger.ts";
import { formBodyLimit } from "../body-limit.ts";
import { canonicalJson, sha256Hex } from "../cache.ts";
import { IdempotentRequest } from "../idempotency.ts";
import { createJob } from "../jobs/create.ts";
import { type JobRequest, jobRequestFromForm, jobRequestFromJson } from "../jobs/inputs.ts";
import { jobSettings } from "../jobs/settings.ts";
import { cancelJob, getJob, type JobRow, jobsCursorOf, listJobs, parseJobsCursor } from "../jobs/store.ts";
import { jobView, resultSignatureValid } from "../jobs/view.ts";
import { billingHeaders, problemResponses, rateLimitHeaders } from "../openapi.ts";
import { CreateJobJsonWithPlugins, RequestOptions } from "../plugins/index.ts";
import { deliveriesOf, enqueueWebhook } from "../webhooks/deliver.ts";

const JobId = z.object({ id: z.string() });
const POLL_MS = 200;
const jobJson = (description: string) => ({ description, content: { "application/json": { schema: Job } } });

/** Origin for the URLs a job carries. */
export const publicBase = (c: Context<AppEnv>): string => (c.env.PUBLIC_URL || new URL(c.req.url).origin).replace(/\/$/, "");

/** `Prefer: wait=N` (RFC 7240; bare `wait` = the maximum), capped at 60 s; undefined when absent. */
export function preferWait(header: string | undefined, max: number): number | undefined {
  for (const part of (header ?? "").split(/[,;]/)) {
    const m = /^\s*wait(?:\s*=\s*"?(\d+)"?)?\s*$/i.exec(part);
    if (m) return Math.min(max, m[1] === undefined ? max : Number(m[1]));
  }
  return undefined;
}

/**
 * Polls D1 until the job is final or the deadline passes. Every 200 ms: a result is late by 100 ms
 * on average (bench/jobs.ts), for at most 300 one-row reads over a 60 s wait.
 */
async function waitForJob(c: Context<AppEnv>, id: string, seconds: number): Promise<JobRow> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const j = (await getJob(c.env.DB, id)) as JobRow;
    if (FINAL_STATUSES.includes(j.status) || Date.now() + POLL_MS > deadline) return j;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

async function ownedJob(c: Context<AppEnv>, id: string): Promise<JobRow> {
  const j = await getJob(c.env.DB, id);
  if (!j || j.owner !== ownerOf(c.get("caller"))) throw new Problem("job-not-found", `no job ${id} for this API key's account`);
  return j;
}

/** What identifies the request for Idempotency-Key: inputs by hash, options, webhook. */
async function fingerprint(r: JobRequest): Promise<string> {
  const image = "bytes" in r.image ? await sha256Hex(r.image.bytes) : r.image.uploadId;
  const mask = "bytes" in r.mask ? await sha256Hex(r.mask.bytes) : canonicalJson(r.mask.shapes);
  return sha256Hex(canonicalJson({ job: 1, image, mask, options: r.options, webhook: r.webhook, events: r.webhookEvents }));
}

async function readJobRequest(c: Context<AppEnv>): Promise<JobRequest> {
  const type = (c.req.header("content-type") ?? "").toLowerCase();
  if (type.startsWith("application/json")) {
    let raw: unknown;
    try {
      raw = await c.req.json();
    } catch (e) {
      throw new Problem("bad-request", `the JSON body could not be parsed (${(e as Error).message})`);
    }
    return jobRequestFromJson(c.env, ownerOf(c.get("caller")), raw);
  }
  if (type.startsWith("multipart/form-data")) return jobRequestFromForm(c.env, ownerOf(c.get("caller")), c.req.raw);
  throw new Problem(
    "unsupported-media-type",
    "send multipart/form-data (like /v1/inpaint) or application/json (with image_url)",
    {
      accepted: ["multipart/form-data", "application/json"],
    },
  );
}

async function createHandler(c: Context<AppEnv>): Promise<Response> {
  const caller = c.get("caller");
  const accountId = caller.accountId;
  const idem = IdempotentRequest.of(c.env, accountId, c.req.header("idempotency-key"));
  const req = await readJobRequest(c);
  let res = await idem?.claim(await fingerprint(req));
  if (!res) {
    try {
      const job = await createJob(c.env, { owner: ownerOf(caller), accountId }, req, {
        source: "api",
        requestId: c.get("requestId"),
        base: publicBase(c),
      });
      const wait = preferWait(c.req.header("prefer"), jobSettings(c.env).maxWaitS);
      const final = wait ? await waitForJob(c, job.id, wait) : job;
      const done = FINAL_STATUSES.includes(final.status);
      const headers: Record<string, string> = { Location: `/v1/jobs/${job.id}` };
      if (wait !== undefined) headers["Preference-Applied"] = `wait=${wait}`;
      res = c.json(await jobView(c.env, final), done ? 200 : 202, headers);
    } catch (e) {
      await idem?.fail();
      throw e;
    }
    if (idem) res = await idem.finish(res);
  }
  // Jobs are charged when they succeed (GET the job for credits_charged): nothing at submission.
  if (accountId) {
    res.headers.set("X-Credits-Charged", "0");
    res.headers.set("X-Credits-Remaining", String((await balanceOf(c.env.DB, accountId)) ?? 0));
  }
  return res;
}

export function registerJobs(app: AppInstance): void {
  const reg = app.openAPIRegistry;
  const security = [{ bearer: [] }];
  reg.registerPath({
    method: "post",
    path: "/v1/jobs",
    summary: "Submit an inpaint job (async); optionally get a signed webhook when it starts or completes",
    description:
      "The inputs of /v1/inpaint as multipart/form-data plus `webhook` and `webhook_events_filter` (comma-separated: " +
      "started, completed), or JSON with `image_url` (https) or `image_id`, and `mask_url` or `mask_shapes`. Inputs are " +
      "checked before the job is accepted. Credits are held now and charged once when the job succeeds. " +
      "`Prefer: wait=N` (N <= 60) answers when the job is final or after N seconds.",
    security,
    request: {
      headers: z.object({
        Prefer: z.string().optional().openapi({ description: "wait=N: wait up to N seconds (max 60) for the result" }),
        "Idempotency-Key": IdempotencyKey.optional().openapi({
          description: "as for /v1/inpaint: a repeat returns the same job",
        }),
      }),
      body: {
        required: true,
        content: {
          "multipart/form-data": {
            schema: RequestOptions.extend({
              image: z.string().optional().openapi({ format: "binary" }),
              image_id: z.string().optional(),
              mask: z.string().optional().openapi({ format: "binary" }),
              mask_shapes: z.string().optional().openapi({
                description: 'instead of mask: {"shapes":[...]} or the bare array [...], as for POST /v1/inpaint',
              }),
              webhook: z.string().optional().openapi({ description: "https URL that receives the job's events" }),
              webhook_events_filter: z.string().optional().openapi({ description: "started,completed (default completed)" }),
            }),
          },
          "application/json": { schema: CreateJobJsonWithPlugins },
        },
      },
    },
    responses: {
      200: { ...jobJson("Finished within Prefer: wait"), headers: billingHeaders },
      202: { ...jobJson("Accepted: queued (or still running after Prefer: wait)"), headers: billingHeaders },
      ...problemResponses([400, 401, 402, 404, 409, 413, 415, 422, 429, 503]),
    },
  });
  reg.registerPath({
    method: "get",
    path: "/v1/jobs",
    summary: "Your jobs, newest first; pass next_cursor as cursor for the next page",
    security,
    request: { query: z.object({ cursor: z.string().optional(), limit: z.string().optional() }) },
    responses: {
      200: {
        description: "One page",
        headers: rateLimitHeaders,
        content: { "application/json": { schema: JobList } },
      },
      ...problemResponses([400, 401, 429]),
    },
  });
  reg.registerPath({
    method: "get",
    path: "/v1/jobs/{id}",
    summary: "A job: status, error, and when succeeded a signed result URL",
    security,
    request: { params: JobId },
    responses: { 200: { ...jobJson("The job"), headers: rateLimitHeaders }, ...problemResponses([401, 404, 429]) },
  });
  reg.registerPath({
    method: "post",
    path: "/v1/jobs/{id}/cancel",
    summary: "Cancel a queued or processing job (its held credits are released; nothing is charged)",
    security,
    request: { params: JobId },
    responses: { 200: jobJson("The canceled job"), ...problemResponses([401, 404, 409, 429]) },
  });
  reg.registerPath({
    method: "get",
    path: "/v1/jobs/{id}/result",
    summary: "The result image: with the signed query of output.url, or with the owner's API key",
    request: { params: JobId, query: z.object({ expires: z.string().optional(), signature: z.string().optional() }) },
    responses: {
      200: { description: "The image", content: { "image/png": { schema: z.string().openapi({ format: "binary" }) } } },
      ...problemResponses([401, 404, 410]),
    },
  });
  reg.registerPath({
    method: "get",
    path: "/v1/jobs/{id}/deliveries",
    summary: "The job's webhook deliveries and every attempt (status code, error, duration)",
    security,
    request: { params: JobId },
    responses: {
      200: { description: "Delivery log", content: { "application/json": { schema: DeliveryList } } },
      ...problemResponses([401, 404, 429]),
    },
  });

  app.post("/v1/jobs", requireApiKey(), formBodyLimit(2), createHandler);

  app.get("/v1/jobs", requireApiKey(), async (c) => {
    const { cursor, limit } = c.req.query();
    const n = limit === undefined ? 20 : Number(limit);
    const after = cursor === undefined ? undefined : parseJobsCursor(cursor);
    if (!Number.isInteger(n) || n < 1 || n > 100 || (cursor !== undefined && !after))
      throw new Problem("bad-request", "limit is 1 to 100; cursor is a next_cursor value");
    const rows = await listJobs(c.env.DB, ownerOf(c.get("caller")), n + 1, after);
    const page = rows.slice(0, n);
    const jobs = await Promise.all(page.map((j) => jobView(c.env, j)));
    return c.json({ jobs, next_cursor: rows.length > n ? jobsCursorOf(page[page.length - 1]) : null });
  });

  app.get("/v1/jobs/:id", requireApiKey(), async (c) => c.json(await jobView(c.env, await ownedJob(c, c.req.param("id")))));

  app.post("/v1/jobs/:id/cancel", requireApiKey(), async (c) => {
    const job = await ownedJob(c, c.req.param("id"));
    if (FINAL_STATUSES.includes(job.status) || !(await cancelJob(c.env.DB, job)))
      throw new Problem("job-finished", `job ${job.id} has already ended (${(await getJob(c.env.DB, job.id))?.status})`);
    const canceled = (await getJob(c.env.DB, job.id)) as JobRow;
    const view = await jobView(c.env, canceled);
    await enqueueWebhook(c.env, canceled, "completed");
    return c.json(view);
  });

  app.get("/v1/jobs/:id/deliveries", requireApiKey(), async (c) => {
    const job = await ownedJob(c, c.req.param("id"));
    return c.json({ deliveries: await deliveriesOf(c.env.DB, job.id) });
  });

  app.get(
    "/v1/jobs/:id/result",
    async (c, next) => {
      // A valid signature stands in for the API key; anything else needs the owner's key.
      const { expires, signature } = c.req.query();
      if (await resultSignatureValid(c.env, c.req.param("id"), expires, signature)) return next();
      if (signature !== undefined && c.req.header("authorization") === undefined)
        throw new Problem("unauthorized", "the result URL's signature is invalid or has expired: GET the job for a fresh one");
      return requireApiKey()(c, async () => {
        await ownedJob(c, c.req.param("id"));
        await next();
      });
    },
    async (c) => {
      const job = await getJob(c.env.DB, c.req.param("id"));
      if (!job) throw new Problem("job-not-found", `no job ${c.req.param("id")}`);
      if (job.purged_at !== null)
        throw new Problem("result-gone", `job ${job.id}'s result was deleted after the retention period`);
      if (job.status !== "succeeded" || !job.result)
        throw new Problem("job-not-found", `job ${job.id} has no result (status ${job.status})`, { status_of_job: job.status });
      const obj = await c.env.BLOBS.get(job.result.key);
      if (!obj) throw new Problem("result-gone", `job ${job.id}'s result is no longer stored`);
      return c.body(obj.body, 200, {
        "Content-Type": job.result.content_type,
        "Cache-Control": "private, max-age=3600",
        "X-Model": job.result.model,
      });
    },
  );
}
