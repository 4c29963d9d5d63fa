/**
 * Accepting a job: hold its price (402 before anything is stored), store the inputs, insert the
 * row, send the message. If any step fails, what the earlier ones did is undone (hold released,
 * objects deleted, job ended failed), so a refused request leaves nothing behind and costs nothing.
 */
import { Problem } from "../../shared/problems.ts";
import type { JobMessage } from "../../shared/schemas/jobs.ts";
import { availableCredits, hold, release } from "../billing/ledger.ts";
import { callPrice, pricing } from "../billing/pricing.ts";
import type { Bindings } from "../env.ts";
import { deleteJobObjects, type JobRequest, storeInputs } from "./inputs.ts";
import { jobSettings } from "./settings.ts";
import { errorOf, failJob, getJob, insertJob, type JobRow, newJobId } from "./store.ts";

/** A job's credits stay held this long at most (retries included); the run settles far sooner. */
const JOB_HOLD_TTL_MS = 24 * 3600_000;

export interface JobOwner {
  /** Account id, or the dev key's id. */
  owner: string;
  /** Billed account (none for dev keys). */
  accountId?: string;
}

export async function createJob(
  env: Bindings,
  who: JobOwner,
  req: JobRequest,
  meta: { source: string; requestId: string | null; base: string },
): Promise<JobRow> {
  const { width, height } = req.image.header;
  const price = who.accountId ? callPrice(pricing(env), width, height) : 0;
  let held = null;
  if (who.accountId && price > 0) {
    held = await hold(env.DB, who.accountId, price, JOB_HOLD_TTL_MS);
    if (!held) {
      const available = (await availableCredits(env.DB, who.accountId)) ?? 0;
      throw new Problem("payment-required", `this job costs ${price} credits (${width}x${height}); ${available} are available`, {
        credits_required: price,
        credits_available: available,
      });
    }
  }
  const id = newJobId();
  let inserted = false;
  try {
    const input = await storeInputs(env, id, req, meta.base);
    await insertJob(env.DB, {
      id,
      owner: who.owner,
      accountId: who.accountId ?? null,
      holdId: held?.id ?? null,
      price,
      input,
      webhook: req.webhook,
      webhookEvents: req.webhookEvents,
      source: meta.source,
      requestId: meta.requestId,
      expiresAt: Date.now() + jobSettings(env).retentionMs,
    });
    inserted = true;
    await env.JOBS.send({ job_id: id } satisfies JobMessage);
  } catch (e) {
    const p =
      inserted && !(e instanceof Problem)
        ? new Problem("queue-unavailable", "the job could not be queued; nothing was charged, try again", {}, 5)
        : e;
    if (inserted) await failJob(env.DB, { id, hold_id: held?.id ?? null }, errorOf(p as Problem));
    else if (held) await release(env.DB, held);
    await deleteJobObjects(env, id);
    throw p;
  }
  return (await getJob(env.DB, id)) as JobRow;
}
