/**
 * Outgoing job webhooks. A delivery is a D1 row (its id is the webhook-id; its body is fixed, so
 * every attempt sends the same bytes) plus a message on the WEBHOOKS queue. The consumer hands the
 * message to the owner's sender (a Durable Object per account, workers/webhooks/sender.ts), which
 * makes one attempt and logs it: one account's slow receiver delays only that account's
 * deliveries. A failure is sent again through the queue with a delay on the published schedule,
 * honouring a longer Retry-After; after the last attempt the delivery ends failed (the dead-letter
 * queue catches messages the consumer itself could not handle). 2xx = delivered; 410 = the
 * receiver is gone: stop; 3xx counts as a failure.
 */
import { isProblem } from "../../shared/problems.ts";
import type { Delivery, DeliveryMessage, JobWebhookPayload, WebhookEvent } from "../../shared/schemas/jobs.ts";
import { newMessageId, webhookHeaders } from "../../shared/webhooks/signature.ts";
import type { Bindings } from "../env.ts";
import { jobSettings, MAX_QUEUE_DELAY_S } from "../jobs/settings.ts";
import type { JobRow } from "../jobs/store.ts";
import { jobView } from "../jobs/view.ts";
import { signingSecrets } from "./secrets.ts";
import { safeFetch } from "./ssrf.ts";

interface DeliveryRow {
  id: string;
  job_id: string;
  owner: string;
  event: string;
  url: string;
  body: string;
  status: "pending" | "delivered" | "failed";
  attempts: number;
  next_attempt_at: number | null;
  created_at: number;
}

/**
 * Records and sends the `event` webhook of `job` if the job has a webhook and its filter names
 * the event. Idempotent: one delivery per job and event, however often a run calls this.
 */
export async function enqueueWebhook(env: Bindings, job: JobRow, event: WebhookEvent): Promise<void> {
  if (!job.webhook || !job.webhook_events.includes(event)) return;
  const payload: JobWebhookPayload = { type: `job.${event}`, timestamp: new Date().toISOString(), data: await jobView(env, job) };
  const id = newMessageId();
  const now = Date.now();
  const inserted = await env.DB.prepare(
    `INSERT INTO webhook_deliveries (id, job_id, owner, event, url, body, status, attempts, next_attempt_at, created_at)
     VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?) ON CONFLICT (job_id, event) DO NOTHING`,
  )
    .bind(id, job.id, job.owner, `job.${event}`, job.webhook, JSON.stringify(payload), now, now)
    .run();
  if (inserted.meta.changes === 1) await env.WEBHOOKS.send({ delivery_id: id } satisfies DeliveryMessage);
}

/** Pending deliveries whose message may be lost (overdue by `graceMs`): the cron sweep re-sends them. */
export async function overdueDeliveries(db: D1Database, graceMs: number, now = Date.now()): Promise<string[]> {
  const { results } = await db
    .prepare("SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ? LIMIT 100")
    .bind(now - graceMs)
    .all<{ id: string }>();
  return results.map((r) => r.id);
}

/** Seconds in a Retry-After header (delta-seconds or HTTP date), or 0. */
export function retryAfterSeconds(header: string | null, now = Date.now()): number {
  if (!header) return 0;
  if (/^\d+$/.test(header.trim())) return Number(header.trim());
  const at = Date.parse(header);
  return Number.isFinite(at) ? Math.max(0, Math.ceil((at - now) / 1000)) : 0;
}

/** Delay before attempt `next` (1-based) per the schedule, raised to Retry-After. */
export function nextDelaySeconds(schedule: number[], next: number, retryAfter: number): number {
  const planned = schedule[Math.min(next - 1, schedule.length - 1)] ?? 0;
  return Math.min(MAX_QUEUE_DELAY_S, Math.max(planned, retryAfter));
}

interface AttemptOutcome {
  status: number | null;
  error: string | null;
  retryAfter: number;
}

async function attempt(env: Bindings, d: DeliveryRow): Promise<AttemptOutcome> {
  const s = jobSettings(env);
  const secrets = await signingSecrets(env.DB, d.owner);
  const headers = await webhookHeaders(secrets, d.id, Math.floor(Date.now() / 1000), d.body);
  try {
    const res = await safeFetch(
      d.url,
      {
        method: "POST",
        body: d.body,
        headers: { ...headers, "user-agent": "gmcnn-edge-webhooks/1" },
        timeoutMs: s.webhookTimeoutMs,
      },
      env,
      s.allowLocal,
    );
    await res.body?.cancel();
    const ok = res.status >= 200 && res.status < 300;
    return {
      status: res.status,
      error: ok ? null : res.status >= 300 && res.status < 400 ? "redirects are not followed" : `HTTP ${res.status}`,
      retryAfter: retryAfterSeconds(res.headers.get("retry-after")),
    };
  } catch (e) {
    return { status: null, error: isProblem(e) ? e.message : String((e as Error)?.message ?? e), retryAfter: 0 };
  }
}

async function logAttempt(env: Bindings, d: DeliveryRow, n: number, o: AttemptOutcome, ms: number, next: number | null) {
  const status = o.status !== null && o.status >= 200 && o.status < 300 ? "delivered" : o.status === 410 ? "failed" : "pending";
  await env.DB.batch([
    env.DB.prepare(
      "INSERT INTO webhook_attempts (delivery_id, attempt, at, status_code, error, duration_ms) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
    ).bind(d.id, n, Date.now() - ms, o.status, o.error, ms),
    env.DB.prepare(
      "UPDATE webhook_deliveries SET attempts = MAX(attempts, ?), status = ?, next_attempt_at = ? WHERE id = ? AND status = 'pending'",
    ).bind(n, status, status === "pending" ? next : null, d.id),
  ]);
  return status;
}

/**
 * WEBHOOKS consumer: hands each pending delivery to its owner's sender (workers/webhooks/sender.ts,
 * a Durable Object per owner) and acks at once. The consumer never waits on a receiver: queue
 * batches are handled one at a time, so an attempt made here would hold every other account's
 * deliveries behind one slow receiver.
 */
export async function handleDeliveries(batch: MessageBatch<DeliveryMessage>, env: Bindings): Promise<void> {
  for (const msg of batch.messages) {
    const d = await env.DB.prepare("SELECT owner, status FROM webhook_deliveries WHERE id = ?")
      .bind(msg.body.delivery_id)
      .first<Pick<DeliveryRow, "owner" | "status">>();
    if (d?.status !== "pending") {
      msg.ack(); // delivered, given up, or purged: a duplicate message changes nothing
      continue;
    }
    try {
      await env.WEBHOOK_SENDERS.get(env.WEBHOOK_SENDERS.idFromName(d.owner)).take(msg.body.delivery_id);
      msg.ack();
    } catch {
      msg.retry({ delaySeconds: 1 });
    }
  }
}

/**
 * One attempt of a delivery (its owner's sender calls this), logged; a failure is sent again
 * through the queue on the published schedule (raised to a longer Retry-After); after the last
 * attempt, or on 410 Gone, the delivery ends failed. 2xx = delivered.
 */
export async function attemptDelivery(env: Bindings, id: string): Promise<void> {
  const schedule = jobSettings(env).webhookScheduleS;
  const d = await env.DB.prepare("SELECT * FROM webhook_deliveries WHERE id = ?").bind(id).first<DeliveryRow>();
  if (d?.status !== "pending") return;
  const n = d.attempts + 1;
  if (n > schedule.length) {
    await markFailed(env, d.id);
    return;
  }
  const started = Date.now();
  const o = await attempt(env, d);
  const last = n >= schedule.length;
  const delay = last ? 0 : nextDelaySeconds(schedule, n + 1, o.retryAfter);
  const status = await logAttempt(env, d, n, o, Date.now() - started, last ? null : Date.now() + delay * 1000);
  if (status !== "pending") return;
  if (last) await markFailed(env, d.id);
  else await env.WEBHOOKS.send({ delivery_id: d.id } satisfies DeliveryMessage, { delaySeconds: delay });
}

async function markFailed(env: Bindings, id: string): Promise<void> {
  await env.DB.prepare(
    "UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL WHERE id = ? AND status = 'pending'",
  )
    .bind(id)
    .run();
}

/** Dead-letter consumer: the schedule is spent; the delivery ends failed (the job is untouched). */
export async function handleDeadDeliveries(batch: MessageBatch<DeliveryMessage>, env: Bindings): Promise<void> {
  for (const msg of batch.messages) {
    await markFailed(env, msg.body.delivery_id);
    msg.ack();
  }
}

/** The delivery log of a job (GET /v1/jobs/{id}/deliveries). */
export async function deliveriesOf(db: D1Database, jobId: string): Promise<Delivery[]> {
  const [ds, as] = await db.batch([
    db.prepare("SELECT * FROM webhook_deliveries WHERE job_id = ? ORDER BY created_at, event").bind(jobId),
    db
      .prepare(
        "SELECT a.* FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id WHERE d.job_id = ? ORDER BY a.attempt",
      )
      .bind(jobId),
  ]);
  const attempts = as.results as {
    delivery_id: string;
    attempt: number;
    at: number;
    status_code: number | null;
    error: string | null;
    duration_ms: number;
  }[];
  return (ds.results as DeliveryRow[]).map((d) => ({
    id: d.id,
    event: d.event,
    url: d.url,
    status: d.status,
    next_attempt_at: d.next_attempt_at === null ? null : new Date(d.next_attempt_at).toISOString(),
    attempts: attempts
      .filter((a) => a.delivery_id === d.id)
      .map((a) => ({
        attempt: a.attempt,
        at: new Date(a.at).toISOString(),
        status_code: a.status_code,
        error: a.error,
        duration_ms: a.duration_ms,
      })),
  }));
}
