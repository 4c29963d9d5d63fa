/**
 * The JOBS queue consumer, its dead-letter consumer and the cron sweep. A run is idempotent: a
 * message for a final job only makes sure its `completed` webhook is recorded; a job is taken
 * with a lease (a duplicate message waits for it, a run that died is taken over after it); the
 * result is stored before the one transaction that charges and ends the job. Permanent errors
 * (4xx: bad pixels, mask too large) end the job at once; GPU failures (5xx) are retried by the
 * queue with backoff, and the dead-letter consumer ends the job `failed` with the last error.
 */
import { isProblem, Problem } from "../../shared/problems.ts";
import { FINAL_STATUSES, type JobMessage } from "../../shared/schemas/jobs.ts";
import { cacheHitPrice, pricing } from "../billing/pricing.ts";
import { type Bindings, hookReplayRetentionMs } from "../env.ts";
import type { InpaintForm } from "../form.ts";
import { runInpaint } from "../inpaint-run.ts";
import { uploadIdOfKey } from "../uploads.ts";
import { enqueueWebhook, overdueDeliveries } from "../webhooks/deliver.ts";
import { jobSettings, MAX_QUEUE_DELAY_S } from "./settings.ts";
import {
  claimJob,
  completeJob,
  errorOf,
  expiredJobs,
  failJob,
  getJob,
  type JobRow,
  markPurged,
  releaseJob,
  staleJobs,
} from "./store.ts";

async function bytesAt(env: Bindings, key: string, what: string): Promise<Uint8Array> {
  const obj = await env.BLOBS.get(key);
  if (!obj) throw new Problem("result-gone", `the job's ${what} is no longer stored`);
  return new Uint8Array(await obj.arrayBuffer());
}

/** The stored inputs as the form runInpaint takes. */
async function formOf(env: Bindings, job: JobRow): Promise<InpaintForm> {
  const { image, mask, options } = job.input;
  const form: InpaintForm = { options, extras: {} };
  const uploadId = uploadIdOfKey(image.key);
  if (uploadId) form.imageId = uploadId;
  else form.image = await bytesAt(env, image.key, "image");
  if ("key" in mask) form.mask = await bytesAt(env, mask.key, "mask");
  else form.shapes = mask.shapes;
  return form;
}

/** Records the `completed` webhook of a job that has ended (idempotent). */
async function announceFinal(env: Bindings, id: string): Promise<void> {
  const job = await getJob(env.DB, id);
  if (job && FINAL_STATUSES.includes(job.status)) await enqueueWebhook(env, job, "completed");
}

async function runOne(msg: Message<JobMessage>, env: Bindings): Promise<void> {
  const s = jobSettings(env);
  const id = msg.body.job_id;
  const current = await getJob(env.DB, id);
  if (!current) return msg.ack(); // purged
  if (FINAL_STATUSES.includes(current.status)) {
    await announceFinal(env, id);
    return msg.ack();
  }
  const job = await claimJob(env.DB, id, s.leaseMs);
  if (!job) {
    // Another run holds the lease: look again when it ends (it may have died by then).
    const wait = Math.ceil(((current.lease_until ?? Date.now()) - Date.now()) / 1000);
    return msg.retry({ delaySeconds: Math.min(MAX_QUEUE_DELAY_S, Math.max(1, wait)) });
  }
  await enqueueWebhook(env, job, "started");

  try {
    const res = await runInpaint(env, await formOf(env, job), { requestId: job.id, owner: job.owner });
    const key = `jobs/${id}/result`;
    const contentType = res.headers.get("content-type") ?? "application/octet-stream";
    await env.BLOBS.put(key, await res.arrayBuffer(), { httpMetadata: { contentType } });
    const regions = Number(res.headers.get("x-inpaint-regions") ?? "0");
    const cache = res.headers.has("x-coalesced") ? "COALESCED" : (res.headers.get("x-cache") ?? "MISS");
    const hit = cache === "HIT" || cache === "COALESCED";
    // Empty masks cost nothing; a cache hit (or a wait on an identical run) the hit price.
    const charge = regions === 0 ? 0 : hit ? cacheHitPrice(pricing(env), job.price) : job.price;
    const ended = await completeJob(
      env.DB,
      job,
      { key, content_type: contentType, model: res.headers.get("x-model") ?? "", regions, cache },
      charge,
    );
    if (!ended && (await getJob(env.DB, id))?.status === "canceled") await env.BLOBS.delete(key);
  } catch (e) {
    const p = isProblem(e) ? e : new Problem("internal", `the run failed: ${String((e as Error)?.message ?? e)}`);
    if (p.status >= 500 || p.kind === "rate-limited") {
      const planned = s.retryDelaysS[Math.min(msg.attempts - 1, s.retryDelaysS.length - 1)];
      const delay = Math.min(MAX_QUEUE_DELAY_S, Math.max(p.retryAfter ?? 0, planned));
      // A second early: a queue may deliver the retry a little before its delay is up.
      await releaseJob(env.DB, id, errorOf(p), Date.now() + Math.max(0, delay - 1) * 1000);
      return msg.retry({ delaySeconds: delay });
    }
    await failJob(env.DB, job, errorOf(p));
  }
  await announceFinal(env, id);
  msg.ack();
}

/** JOBS consumer (one job per batch, see wrangler.toml; a batch of several runs them in turn). */
export async function handleJobs(batch: MessageBatch<JobMessage>, env: Bindings): Promise<void> {
  for (const msg of batch.messages) await runOne(msg, env);
}

/** Dead-letter consumer: the job's retries are spent; it ends failed with its last error. */
export async function handleDeadJobs(batch: MessageBatch<JobMessage>, env: Bindings): Promise<void> {
  for (const msg of batch.messages) {
    const job = await getJob(env.DB, msg.body.job_id);
    // A live run (a duplicate message went dead while it works) finishes the job itself.
    if (job && !FINAL_STATUSES.includes(job.status) && !(job.status === "processing" && (job.lease_until ?? 0) > Date.now())) {
      const last = job.error ?? errorOf(new Problem("gpu-unavailable", ""));
      await failJob(env.DB, job, {
        ...last,
        detail: `gave up after ${job.attempts} attempt(s)${last.detail ? `; last error: ${last.detail}` : ""}`,
      });
      await announceFinal(env, job.id);
    }
    msg.ack();
  }
}

/**
 * Cron sweep: jobs whose queue message may be lost are sent again (a duplicate is harmless),
 * overdue webhook deliveries likewise, and jobs past retention lose their inputs and result.
 */
export async function sweep(env: Bindings, now = Date.now()): Promise<{ resent: number; redelivered: number; purged: number }> {
  const s = jobSettings(env);
  const stale = await staleJobs(env.DB, s.staleMs, now);
  if (stale.length) await env.JOBS.sendBatch(stale.map((job_id) => ({ body: { job_id } satisfies JobMessage })));
  const overdue = await overdueDeliveries(env.DB, s.staleMs, now);
  if (overdue.length) await env.WEBHOOKS.sendBatch(overdue.map((delivery_id) => ({ body: { delivery_id } })));
  const expired = await expiredJobs(env.DB, now);
  for (const j of expired) {
    // Uploads (uploads/<owner>/<sha256>) are their owner's until DELETE /v1/uploads/{id}.
    const keys = [`jobs/${j.id}/image`, `jobs/${j.id}/mask`, `jobs/${j.id}/result`];
    await env.BLOBS.delete(keys);
    await markPurged(env.DB, j.id, now);
  }
  await env.DB.prepare("DELETE FROM hook_receipts WHERE received_at < ?")
    .bind(now - 7 * 86400_000)
    .run();
  await env.DB.prepare("DELETE FROM hook_digests WHERE received_at < ?")
    .bind(now - hookReplayRetentionMs(env))
    .run();
  return { resent: stale.length, redelivered: overdue.length, purged: expired.length };
}
