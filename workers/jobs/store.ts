/**
 * Jobs in D1. Every status change is one conditional UPDATE (or one batch = one transaction), so
 * a redelivered queue message, a late run and a cancel can race without a job ending twice or
 * being charged twice: the charge is a ledger row inserted in the same batch as the final UPDATE,
 * and only while the job is still processing and its credit hold still exists.
 */
import type { Problem } from "../../shared/problems.ts";
import type { JobError, JobStatus, WebhookEvent } from "../../shared/schemas/jobs.ts";
import type { InpaintOptions } from "../../shared/schemas/options.ts";
import type { MaskShapes } from "../../shared/schemas/shapes.ts";
import type { EdgeFormat } from "../codecs.ts";

/** Where a job's inputs are: R2 keys (or an upload id), or shapes inline. */
export interface JobInput {
  image: { key: string; format: EdgeFormat; width: number; height: number };
  mask: { key: string } | { shapes: MaskShapes };
  options: InpaintOptions;
  /** Origin for the URLs in the job document (PUBLIC_URL or the creating request's). */
  base: string;
}

export interface JobResult {
  key: string;
  content_type: string;
  model: string;
  regions: number;
  cache: string;
}

export interface JobRow {
  id: string;
  owner: string;
  account_id: string | null;
  hold_id: string | null;
  price: number;
  credits_charged: number;
  status: JobStatus;
  input: JobInput;
  webhook: string | null;
  webhook_events: WebhookEvent[];
  source: string;
  request_id: string | null;
  attempts: number;
  lease_until: number | null;
  result: JobResult | null;
  error: JobError | null;
  created_at: number;
  started_at: number | null;
  completed_at: number | null;
  expires_at: number;
  purged_at: number | null;
}

type RawRow = Omit<JobRow, "input" | "result" | "error" | "webhook_events"> & {
  input: string;
  result: string | null;
  error: string | null;
  webhook_events: string;
};

const parse = (r: RawRow): JobRow => ({
  ...r,
  input: JSON.parse(r.input),
  result: r.result ? JSON.parse(r.result) : null,
  error: r.error ? JSON.parse(r.error) : null,
  webhook_events: r.webhook_events.split(",").filter(Boolean) as WebhookEvent[],
});

/** A problem as a job records it (the error of a failed job, or the last transient one). */
export const errorOf = (p: Problem): JobError => ({ type: p.type, title: p.title, status: p.status, detail: p.message });

export const newJobId = (): string => `job_${crypto.randomUUID().replaceAll("-", "")}`;

export interface NewJob {
  id: string;
  owner: string;
  accountId: string | null;
  holdId: string | null;
  price: number;
  input: JobInput;
  webhook: string | null;
  webhookEvents: WebhookEvent[];
  source: string;
  requestId: string | null;
  expiresAt: number;
}

export async function insertJob(db: D1Database, j: NewJob, now = Date.now()): Promise<void> {
  await db
    .prepare(
      `INSERT INTO jobs (id, owner, account_id, hold_id, price, status, input, webhook, webhook_events, source, request_id, created_at, expires_at)
       VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?)`,
    )
    .bind(
      j.id,
      j.owner,
      j.accountId,
      j.holdId,
      j.price,
      JSON.stringify(j.input),
      j.webhook,
      j.webhookEvents.join(","),
      j.source,
      j.requestId,
      now,
      j.expiresAt,
    )
    .run();
}

export async function getJob(db: D1Database, id: string): Promise<JobRow | null> {
  const r = await db.prepare("SELECT * FROM jobs WHERE id = ?").bind(id).first<RawRow>();
  return r ? parse(r) : null;
}

/**
 * Takes the job for one run: queued, or processing with an expired lease (its run died).
 * Answers the job as taken, or null when it is final or another run holds it.
 */
export async function claimJob(db: D1Database, id: string, leaseMs: number, now = Date.now()): Promise<JobRow | null> {
  const r = await db
    .prepare(
      `UPDATE jobs SET status = 'processing', attempts = attempts + 1, started_at = COALESCE(started_at, ?2),
         lease_until = ?3
       WHERE id = ?1 AND (status = 'queued' OR (status = 'processing' AND COALESCE(lease_until, 0) <= ?2))
       RETURNING *`,
    )
    .bind(id, now, now + leaseMs)
    .first<RawRow>();
  return r ? parse(r) : null;
}

/**
 * After a transient failure: the run lets go and notes why. The lease ends when the retry is due,
 * so that the retry can take the job and the cron sweep only resends it if that retry is overdue.
 */
export async function releaseJob(db: D1Database, id: string, error: JobError, retryAt: number): Promise<void> {
  await db
    .prepare("UPDATE jobs SET lease_until = ?, error = ? WHERE id = ? AND status = 'processing'")
    .bind(retryAt, JSON.stringify(error), id)
    .run();
}

/**
 * processing -> succeeded, with the charge: ledger debit (only if the job is still processing and
 * its hold exists), hold deleted, job updated, in one transaction. False when the job was no
 * longer processing (canceled meanwhile, or another run finished it): nothing charged.
 */
export async function completeJob(
  db: D1Database,
  job: JobRow,
  result: JobResult,
  charge: number,
  now = Date.now(),
): Promise<boolean> {
  const stmts: D1PreparedStatement[] = [];
  if (charge > 0 && job.account_id && job.hold_id)
    stmts.push(
      db
        .prepare(
          `INSERT INTO ledger (account_id, delta, balance_after, kind, request_id, note, created_at)
           SELECT a.id, -?2, a.balance - ?2, ?3, ?4, ?5, ?6 FROM accounts a
           WHERE a.id = ?1 AND EXISTS (SELECT 1 FROM holds WHERE id = ?7)
             AND EXISTS (SELECT 1 FROM jobs WHERE id = ?4 AND status = 'processing')`,
        )
        .bind(
          job.account_id,
          charge,
          result.cache === "HIT" ? "inpaint-cache-hit" : "inpaint",
          job.id,
          `job ${job.id}`,
          now,
          job.hold_id,
        ),
    );
  if (job.hold_id) stmts.push(db.prepare("DELETE FROM holds WHERE id = ?").bind(job.hold_id));
  stmts.push(
    db
      .prepare(
        `UPDATE jobs SET status = 'succeeded', result = ?1, error = NULL, completed_at = ?2, lease_until = NULL,
           -- what the ledger row above really debited (none if the hold had gone)
           credits_charged = COALESCE((SELECT -delta FROM ledger WHERE request_id = ?3 AND delta < 0 ORDER BY id DESC LIMIT 1), 0)
         WHERE id = ?3 AND status = 'processing'`,
      )
      .bind(JSON.stringify(result), now, job.id),
  );
  const out = await db.batch(stmts);
  return out[out.length - 1].meta.changes === 1;
}

/** -> failed (from queued or processing), hold released, nothing charged. False if already final. */
export async function failJob(db: D1Database, job: Pick<JobRow, "id" | "hold_id">, error: JobError, now = Date.now()) {
  return finalWithoutCharge(db, job, "failed", error, ["queued", "processing"], now);
}

/** -> canceled (from queued or processing) for its owner, hold released. False if already final. */
export async function cancelJob(db: D1Database, job: Pick<JobRow, "id" | "hold_id">, now = Date.now()) {
  return finalWithoutCharge(db, job, "canceled", null, ["queued", "processing"], now);
}

async function finalWithoutCharge(
  db: D1Database,
  job: Pick<JobRow, "id" | "hold_id">,
  status: JobStatus,
  error: JobError | null,
  from: JobStatus[],
  now: number,
): Promise<boolean> {
  const update = db
    .prepare(
      `UPDATE jobs SET status = ?, error = COALESCE(?, error), completed_at = ?, lease_until = NULL
       WHERE id = ? AND status IN (${from.map(() => "?").join(", ")})`,
    )
    .bind(status, error ? JSON.stringify(error) : null, now, job.id, ...from);
  const stmts = [update];
  // The hold goes only if this UPDATE ended the job (a finished run may still be settling it).
  if (job.hold_id)
    stmts.push(
      db
        .prepare("DELETE FROM holds WHERE id = ? AND EXISTS (SELECT 1 FROM jobs WHERE id = ? AND status = ?)")
        .bind(job.hold_id, job.id, status),
    );
  const [u] = await db.batch(stmts);
  return u.meta.changes === 1;
}

/**
 * Where a page of GET /v1/jobs ends: the last job's (created_at, id). Jobs are listed in that
 * total order (newest first, ties by id), so jobs created in the same millisecond are neither
 * skipped nor repeated across pages.
 */
export interface JobsCursor {
  createdAt: number;
  /** "" for a cursor of the old form (created_at only): every job of that millisecond is after it. */
  id: string;
}

/** The cursor as next_cursor carries it: `<created_at>.<id>`. */
export const jobsCursorOf = (j: Pick<JobRow, "created_at" | "id">): string => `${j.created_at}.${j.id}`;

const CURSOR = /^(\d{1,16})(?:\.([A-Za-z0-9_-]{1,64}))?$/;

/** A next_cursor value (or the old bare created_at); undefined when it is not one. */
export function parseJobsCursor(raw: string): JobsCursor | undefined {
  const m = CURSOR.exec(raw);
  return m ? { createdAt: Number(m[1]), id: m[2] ?? "" } : undefined;
}

/** The caller's jobs, newest first (created_at, then id, descending), after `after`. */
export async function listJobs(db: D1Database, owner: string, limit: number, after?: JobsCursor): Promise<JobRow[]> {
  const { results } = await db
    .prepare(
      `SELECT * FROM jobs WHERE owner = ?1 AND (?2 IS NULL OR (created_at, id) < (?2, ?3))
       ORDER BY created_at DESC, id DESC LIMIT ?4`,
    )
    .bind(owner, after?.createdAt ?? null, after?.id ?? "", limit)
    .all<RawRow>();
  return results.map(parse);
}

/** Jobs whose queue message may be lost: queued too long, or processing past their lease. */
export async function staleJobs(db: D1Database, staleMs: number, now = Date.now(), limit = 100): Promise<string[]> {
  const { results } = await db
    .prepare(
      `SELECT id FROM jobs WHERE (status = 'queued' AND created_at <= ?1)
         OR (status = 'processing' AND COALESCE(lease_until, 0) <= ?2) LIMIT ?3`,
    )
    .bind(now - staleMs, now - staleMs, limit)
    .all<{ id: string }>();
  return results.map((r) => r.id);
}

/** Jobs past retention whose objects are still stored. */
export async function expiredJobs(db: D1Database, now = Date.now(), limit = 100): Promise<JobRow[]> {
  const { results } = await db
    .prepare(
      "SELECT * FROM jobs WHERE expires_at <= ? AND purged_at IS NULL AND status IN ('succeeded', 'failed', 'canceled') LIMIT ?",
    )
    .bind(now, limit)
    .all<RawRow>();
  return results.map(parse);
}

export async function markPurged(db: D1Database, id: string, now = Date.now()): Promise<void> {
  await db.prepare("UPDATE jobs SET purged_at = ? WHERE id = ?").bind(now, id).run();
}
