/**
 * Async jobs, outgoing and incoming webhooks, inside workerd with real bindings: D1, R2, the
 * JOBS and WEBHOOKS queues (miniflare runs their consumers), the GPU stand-in and the webhook
 * receiver (test/workers/node/). Consumer failures are tested by the state a dead run leaves
 * (a lease, a stored result) and by calling the real queue handler with a message; GPU failures
 * with a GPU URL nothing listens on.
 */
import { createExecutionContext, createMessageBatch, createScheduledController, getQueueResult } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { InpaintOptions } from "../../shared/schemas/options.ts";
import { encodeImage } from "../../workers/codecs.ts";
import worker from "../../workers/index.ts";
import { storeInputs } from "../../workers/jobs/inputs.ts";
import { completeJob, getJob, insertJob, newJobId } from "../../workers/jobs/store.ts";
import { nextDelaySeconds, retryAfterSeconds } from "../../workers/webhooks/deliver.ts";
import { boxMask, form, photo, testEnv } from "./helpers.ts";

/** The GPU stand-in's hole colour (test/workers/node/gpu-stand-in.ts). */
const FILL = [12, 200, 99];

const BASE = "https://edge.test";
const call = (path: string, init: RequestInit = {}) => exports.default.fetch(new Request(`${BASE}${path}`, init));
const bearer = (key: string) => ({ Authorization: `Bearer ${key}` });
const dev = bearer(testEnv.TEST_API_KEY);
const admin = (path: string, body: unknown) =>
  call(path, {
    method: "POST",
    headers: { ...bearer(testEnv.ADMIN_TOKEN), "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });

async function newAccount(credits: number) {
  const res = await admin("/v1/admin/accounts", { name: "jobs", credits });
  expect(res.status).toBe(201);
  return (await res.json()) as { account: { id: string }; api_key: string };
}

const W = 24;
const H = 20;
const box = { x: 6, y: 5, width: 7, height: 6 };
const img = await encodeImage(photo(W, H), "png", 90);
const mask = await encodeImage(boxMask(W, H, box), "png", 90);
const shapes = JSON.stringify({ shapes: [{ type: "rect", ...box }] });

type JobDoc = {
  id: string;
  status: string;
  credits_charged: number;
  attempts: number;
  error: { type: string; detail: string } | null;
  output: { url: string; regions: number } | null;
  webhook_events_filter: string[];
};

async function submit(headers: Record<string, string>, fields: Record<string, string> = {}, m: Uint8Array | null = mask) {
  const f = form(img, m ?? undefined, fields);
  if (!m) f.append("mask_shapes", shapes);
  return call("/v1/jobs", { method: "POST", body: f, headers });
}

async function until<T>(what: string, f: () => Promise<T | undefined>, seconds = 25): Promise<T> {
  const end = Date.now() + seconds * 1000;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

const jobOf = async (id: string, key = dev) => (await (await call(`/v1/jobs/${id}`, { headers: key })).json()) as JobDoc;
const finished = (id: string, key = dev) =>
  until(`job ${id}`, async () => {
    const j = await jobOf(id, key);
    return ["succeeded", "failed", "canceled"].includes(j.status) ? j : undefined;
  });

async function expectProblem(res: Response, status: number, kind: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  expect(((await res.json()) as { type: string }).type).toBe(`https://gmcnn-edge.dev/problems/${kind}`);
}

async function ledger(accountId: string) {
  return testEnv.DB.prepare(
    "SELECT COUNT(*) AS n, COALESCE(SUM(delta), 0) AS sum, (SELECT balance FROM accounts WHERE id = ?1) AS balance, (SELECT COUNT(*) FROM holds WHERE account_id = ?1) AS holds FROM ledger WHERE account_id = ?1",
  )
    .bind(accountId)
    .first<{ n: number; sum: number; balance: number; holds: number }>();
}

async function receiver(name: string, behaviour: Record<string, unknown> = {}) {
  await fetch(`${testEnv.RECEIVER_URL}/behaviour/${name}`, { method: "PUT", body: JSON.stringify(behaviour) });
  return {
    url: `${testEnv.RECEIVER_URL}/hooks/${name}`,
    received: async () =>
      (await (await fetch(`${testEnv.RECEIVER_URL}/hooks/${name}`)).json()) as {
        headers: Record<string, string>;
        body: string;
        status: number;
      }[],
  };
}

describe("POST /v1/jobs", () => {
  it("runs a multipart job through the queue; Prefer: wait returns it finished with a signed result URL", async () => {
    const res = await submit({ ...dev, Prefer: "wait=20" });
    expect(res.status).toBe(200);
    expect(res.headers.get("preference-applied")).toBe("wait=20");
    const job = (await res.json()) as JobDoc;
    expect(job.status).toBe("succeeded");
    expect(job.output?.regions).toBe(1);
    // The signed URL opens without a key; every hole pixel is the stand-in's fill.
    const out = await call(new URL(job.output?.url as string).pathname + new URL(job.output?.url as string).search);
    expect(out.status).toBe(200);
    const bytes = new Uint8Array(await out.arrayBuffer());
    expect(bytes.slice(1, 4)).toEqual(new Uint8Array([0x50, 0x4e, 0x47]));
    // A tampered signature is refused; the owner's key still opens it.
    const bad = new URL(job.output?.url as string);
    bad.searchParams.set("signature", "0".repeat(64));
    await expectProblem(await call(bad.pathname + bad.search), 401, "unauthorized");
    expect((await call(`/v1/jobs/${job.id}/result`, { headers: dev })).status).toBe(200);
  });

  it("answers 202 queued without Prefer; the job is the owner's only; a finished job cannot be canceled", async () => {
    const res = await submit(dev, {}, null);
    expect(res.status).toBe(202);
    const job = (await res.json()) as JobDoc;
    expect(["queued", "processing", "succeeded"]).toContain(job.status);
    expect(res.headers.get("location")).toBe(`/v1/jobs/${job.id}`);
    await expectProblem(await call(`/v1/jobs/${job.id}`, { headers: bearer("another-key") }), 404, "job-not-found");
    const done = await finished(job.id);
    expect(done.status).toBe("succeeded");
    await expectProblem(await call(`/v1/jobs/${job.id}/cancel`, { method: "POST", headers: dev }), 409, "job-finished");
    // The owner's list has it; another key's list does not.
    const mine = (await (await call("/v1/jobs?limit=100", { headers: dev })).json()) as { jobs: JobDoc[] };
    expect(mine.jobs.map((j) => j.id)).toContain(job.id);
    const theirs = (await (await call("/v1/jobs", { headers: bearer("another-key") })).json()) as { jobs: JobDoc[] };
    expect(theirs.jobs.map((j) => j.id)).not.toContain(job.id);
    await expectProblem(await call("/v1/jobs?limit=0", { headers: dev }), 400, "bad-request");
  });

  it("charges a metered job once, when it succeeds; Idempotency-Key returns the same job", async () => {
    const { account, api_key } = await newAccount(10);
    const headers = { ...bearer(api_key), "Idempotency-Key": "job-1" };
    const first = await submit(headers, { dilate: "1" });
    expect(first.status).toBe(202);
    expect(first.headers.get("x-credits-charged")).toBe("0");
    const job = (await first.json()) as JobDoc;
    const done = await finished(job.id, bearer(api_key));
    expect(done.status).toBe("succeeded");
    expect(done.credits_charged).toBe(1);
    const replay = await submit(headers, { dilate: "1" });
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(((await replay.json()) as JobDoc).id).toBe(job.id);
    await expectProblem(await submit(headers, { dilate: "2" }), 422, "idempotency-mismatch");
    const l = await ledger(account.id);
    expect(l).toMatchObject({ n: 2, sum: 9, balance: 9, holds: 0 }); // the grant and one debit
    const jobs = await testEnv.DB.prepare("SELECT COUNT(*) AS n FROM jobs WHERE owner = ?")
      .bind(account.id)
      .first<{ n: number }>();
    expect(jobs?.n).toBe(1);
  });

  it("50 concurrent jobs against credits for 20: exactly 20 accepted and charged, never below zero", async () => {
    const { account, api_key } = await newAccount(20);
    const results = await Promise.all(Array.from({ length: 50 }, () => submit(bearer(api_key), {}, null)));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 202)).toHaveLength(20);
    expect(statuses.filter((s) => s === 402)).toHaveLength(30);
    const ids = await Promise.all(results.filter((r) => r.status === 202).map(async (r) => ((await r.json()) as JobDoc).id));
    for (const id of ids) expect((await finished(id, bearer(api_key))).status).toBe("succeeded");
    const l = await ledger(account.id);
    expect(l).toMatchObject({ n: 21, sum: 0, balance: 0, holds: 0 });
    const low = await testEnv.DB.prepare("SELECT MIN(balance_after) AS low FROM ledger WHERE account_id = ?")
      .bind(account.id)
      .first<{ low: number }>();
    expect(low?.low).toBe(0);
  });

  it("refuses what it cannot run before accepting it: nothing stored, nothing charged", async () => {
    const { account, api_key } = await newAccount(0);
    await expectProblem(await submit(bearer(api_key)), 402, "payment-required");
    const { account: richAccount, api_key: rich } = await newAccount(5);
    const k = bearer(rich);
    await expectProblem(
      await call("/v1/jobs", { method: "POST", headers: { ...k, "Content-Type": "application/json" }, body: "{nope" }),
      400,
      "bad-request",
    );
    await expectProblem(
      await call("/v1/jobs", { method: "POST", headers: { ...k, "Content-Type": "text/plain" }, body: "x" }),
      415,
      "unsupported-media-type",
    );
    const json = (b: unknown) =>
      call("/v1/jobs", { method: "POST", headers: { ...k, "Content-Type": "application/json" }, body: JSON.stringify(b) });
    await expectProblem(await json({ image_url: "https://10.0.0.1/a.png", mask_shapes: JSON.parse(shapes) }), 422, "unsafe-url");
    await expectProblem(
      await json({ image_url: "http://169.254.169.254/latest", mask_shapes: JSON.parse(shapes) }),
      422,
      "unsafe-url",
    );
    await expectProblem(await submit(k, { webhook: "http://example.com/hook" }), 422, "unsafe-url");
    await expectProblem(await submit(k, { webhook_events_filter: "finished" }), 400, "invalid-options");
    const small = await encodeImage(boxMask(8, 8, box), "png", 90);
    await expectProblem(await submit(k, {}, small), 422, "mask-mismatch");
    for (const id of [account.id, richAccount.id]) expect(await ledger(id)).toMatchObject({ holds: 0 });
    const jobs = await testEnv.DB.prepare("SELECT COUNT(*) AS n FROM jobs WHERE owner IN (?, ?)")
      .bind(account.id, richAccount.id)
      .first<{ n: number }>();
    expect(jobs?.n).toBe(0);
  });

  it("fetches JSON inputs by URL (local receivers allowed by the dev switch) and fails a job whose URL is gone", async () => {
    await fetch(`${testEnv.RECEIVER_URL}/files/in.png`, { method: "PUT", body: img, headers: { "Content-Type": "image/png" } });
    const res = await call("/v1/jobs", {
      method: "POST",
      headers: { ...dev, "Content-Type": "application/json", Prefer: "wait=20" },
      body: JSON.stringify({
        image_url: `${testEnv.RECEIVER_URL}/files/in.png`,
        mask_shapes: JSON.parse(shapes),
        output_format: "webp",
      }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as JobDoc).status).toBe("succeeded");
    // mask_shapes as the bare array (what an SDK shapes variable holds) is the same mask.
    const bare = await call("/v1/jobs", {
      method: "POST",
      headers: { ...dev, "Content-Type": "application/json", Prefer: "wait=20" },
      body: JSON.stringify({ image_url: `${testEnv.RECEIVER_URL}/files/in.png`, mask_shapes: JSON.parse(shapes).shapes }),
    });
    expect(bare.status).toBe(200);
    expect(((await bare.json()) as JobDoc).status).toBe("succeeded");
    const missing = await call("/v1/jobs", {
      method: "POST",
      headers: { ...dev, "Content-Type": "application/json" },
      body: JSON.stringify({ image_url: `${testEnv.RECEIVER_URL}/files/none.png`, mask_shapes: JSON.parse(shapes) }),
    });
    await expectProblem(missing, 422, "fetch-failed");
  });
});

/** A job row with stored inputs and no queue message (the tests below deliver messages themselves). */
let stored = 0;
async function storedJob(owner: string, accountId: string | null = null, price = 0, holdId: string | null = null) {
  const id = newJobId();
  // An image of its own: a run must reach the GPU, not a result cached by an earlier run.
  const n = stored++;
  const pic = photo(W, H);
  pic.data.set([n % 256, Math.floor(Math.random() * 256), Math.floor(Math.random() * 256)], 0);
  const own = await encodeImage(pic, "png", 90);
  const input = await storeInputs(
    testEnv,
    id,
    {
      image: { bytes: own, header: { format: "png", width: W, height: H } },
      mask: { bytes: mask },
      options: InpaintOptions.parse({}),
      webhook: null,
      webhookEvents: ["completed"],
    },
    BASE,
  );
  await insertJob(testEnv.DB, {
    id,
    owner,
    accountId,
    holdId,
    price,
    input,
    webhook: null,
    webhookEvents: ["completed"],
    source: "api",
    requestId: null,
    expiresAt: Date.now() + 3600_000,
  });
  return id;
}

/** Runs the Worker's real queue handler on one message; answers what it did with it. */
async function deliver(queue: string, body: unknown, attempts = 1, env: Record<string, string> = {}) {
  const batch = createMessageBatch(queue, [{ id: crypto.randomUUID(), timestamp: new Date(), attempts, body }]);
  const ctx = createExecutionContext();
  await worker.queue(batch, { ...testEnv, ...env }, ctx);
  return getQueueResult(batch, ctx);
}

const counted = `${testEnv.STAND_IN_URL}/jobs`;
const gpuCalls = async () => ((await (await fetch(`${counted}/count`)).json()) as { count: number }).count;

describe("the job consumer never loses or repeats a job", { timeout: 60_000 }, () => {
  it("a GPU that keeps failing: retried with backoff, then the dead-letter queue ends the job failed, uncharged", async () => {
    const { account } = await newAccount(3);
    const hold = await testEnv.DB.prepare(
      "INSERT INTO holds (id, account_id, amount, expires_at) VALUES (?, ?, 1, ?) RETURNING id",
    )
      .bind(crypto.randomUUID(), account.id, Date.now() + 3600_000)
      .first<{ id: string }>();
    const id = await storedJob(account.id, account.id, 1, hold?.id);
    const dead = { GPU_URL: testEnv.DEAD_GPU_URL };
    for (const attempt of [1, 2]) {
      const r = await deliver("gmcnn-jobs", { job_id: id }, attempt, dead);
      expect(r.retryMessages).toHaveLength(1);
      const j = await getJob(testEnv.DB, id);
      expect(j).toMatchObject({ status: "processing", attempts: attempt });
      // Held until the retry is due (the GPU function's Retry-After, 10 s, beats the 1 s backoff
      // of the tests), so the sweep does not resend it early; then that time passes. Measured on
      // the run's own clock: the lease was set (10 - 1) s after a moment no earlier than started_at.
      expect((j?.lease_until ?? 0) - (j?.started_at ?? Number.POSITIVE_INFINITY)).toBeGreaterThanOrEqual(9_000);
      await testEnv.DB.prepare("UPDATE jobs SET lease_until = ? WHERE id = ?")
        .bind(Date.now() - 1, id)
        .run();
      expect(j?.error?.type).toMatch(/gpu-(unavailable|timeout)/);
    }
    const r = await deliver("gmcnn-jobs-dlq", { job_id: id });
    expect(r.explicitAcks).toHaveLength(1);
    const job = await jobOf(id, bearer((await newKeyFor(account.id)).api_key));
    expect(job.status).toBe("failed");
    expect(job.error?.detail).toMatch(/gave up after 2 attempt\(s\); last error/);
    expect(job.credits_charged).toBe(0);
    expect(await ledger(account.id)).toMatchObject({ n: 1, balance: 3, holds: 0 });
  });

  it("a redelivered message for a finished job runs nothing; a live lease makes a duplicate wait", async () => {
    const id = await storedJob("dev:x");
    const before = await gpuCalls();
    expect((await deliver("gmcnn-jobs", { job_id: id }, 1, { GPU_URL: counted })).explicitAcks).toHaveLength(1);
    expect(await gpuCalls()).toBe(before + 1);
    expect((await getJob(testEnv.DB, id))?.status).toBe("succeeded");
    expect((await deliver("gmcnn-jobs", { job_id: id }, 2, { GPU_URL: counted })).explicitAcks).toHaveLength(1);
    expect(await gpuCalls()).toBe(before + 1);

    const busy = await storedJob("dev:x");
    await testEnv.DB.prepare("UPDATE jobs SET status = 'processing', attempts = 1, lease_until = ? WHERE id = ?")
      .bind(Date.now() + 30_000, busy)
      .run();
    const r = await deliver("gmcnn-jobs", { job_id: busy }, 1, { GPU_URL: counted });
    expect(r.retryMessages).toHaveLength(1);
    expect(r.explicitAcks).toHaveLength(0);
    expect(await gpuCalls()).toBe(before + 1);
    // The dead-letter queue leaves a job with a live run alone.
    await deliver("gmcnn-jobs-dlq", { job_id: busy });
    expect((await getJob(testEnv.DB, busy))?.status).toBe("processing");
  });

  it("a run that died after taking the job (or after storing its result) is taken over and charged once", async () => {
    const { account } = await newAccount(5);
    for (const storedResult of [false, true]) {
      const holdId = crypto.randomUUID();
      await testEnv.DB.prepare("INSERT INTO holds (id, account_id, amount, expires_at) VALUES (?, ?, 1, ?)")
        .bind(holdId, account.id, Date.now() + 3600_000)
        .run();
      const id = await storedJob(account.id, account.id, 1, holdId);
      await testEnv.DB.prepare(
        "UPDATE jobs SET status = 'processing', attempts = 1, started_at = ?, lease_until = ? WHERE id = ?",
      )
        .bind(Date.now() - 700_000, Date.now() - 1, id)
        .run();
      if (storedResult) await testEnv.BLOBS.put(`jobs/${id}/result`, "half-written");
      expect((await deliver("gmcnn-jobs", { job_id: id }, 2)).explicitAcks).toHaveLength(1);
      const j = await getJob(testEnv.DB, id);
      expect(j).toMatchObject({ status: "succeeded", attempts: 2, credits_charged: 1 });
      expect((await testEnv.BLOBS.get(`jobs/${id}/result`))?.httpMetadata?.contentType).toBe("image/png");
      // Delivered once more after finishing: no second charge.
      await deliver("gmcnn-jobs", { job_id: id }, 3);
    }
    expect(await ledger(account.id)).toMatchObject({ n: 3, sum: 3, balance: 3, holds: 0 });
  });

  it("a cancel while the run works: the run's end finds the job canceled and charges nothing", async () => {
    const { account } = await newAccount(2);
    const { api_key } = await newKeyFor(account.id);
    const holdId = crypto.randomUUID();
    await testEnv.DB.prepare("INSERT INTO holds (id, account_id, amount, expires_at) VALUES (?, ?, 1, ?)")
      .bind(holdId, account.id, Date.now() + 3600_000)
      .run();
    const id = await storedJob(account.id, account.id, 1, holdId);
    await testEnv.DB.prepare("UPDATE jobs SET status = 'processing', attempts = 1, lease_until = ? WHERE id = ?")
      .bind(Date.now() + 60_000, id)
      .run();
    const running = await getJob(testEnv.DB, id);
    const canceled = await call(`/v1/jobs/${id}/cancel`, { method: "POST", headers: bearer(api_key) });
    expect(canceled.status).toBe(200);
    expect(((await canceled.json()) as JobDoc).status).toBe("canceled");
    const result = { key: `jobs/${id}/result`, content_type: "image/png", model: "m@1", regions: 1, cache: "MISS" };
    expect(await completeJob(testEnv.DB, running as NonNullable<typeof running>, result, 1)).toBe(false);
    expect(await getJob(testEnv.DB, id)).toMatchObject({ status: "canceled", credits_charged: 0 });
    expect(await ledger(account.id)).toMatchObject({ n: 1, balance: 2, holds: 0 });
  });

  it("cancel ends a queued job once: hold released, a second cancel 409, its message then runs nothing", async () => {
    const { account } = await newAccount(2);
    const k = bearer((await newKeyFor(account.id)).api_key);
    const holdId = crypto.randomUUID();
    await testEnv.DB.prepare("INSERT INTO holds (id, account_id, amount, expires_at) VALUES (?, ?, 1, ?)")
      .bind(holdId, account.id, Date.now() + 3600_000)
      .run();
    // Queued, its message not yet delivered (storedJob sends none): nothing can race the cancel.
    const id = await storedJob(account.id, account.id, 1, holdId);
    expect((await jobOf(id, k)).status).toBe("queued");
    const first = await call(`/v1/jobs/${id}/cancel`, { method: "POST", headers: k });
    expect(first.status).toBe(200);
    expect(((await first.json()) as JobDoc).status).toBe("canceled");
    expect(await ledger(account.id)).toMatchObject({ n: 1, balance: 2, holds: 0 });
    await expectProblem(await call(`/v1/jobs/${id}/cancel`, { method: "POST", headers: k }), 409, "job-finished");
    // Another account cannot cancel it (404, as for an id that never existed).
    await expectProblem(await call(`/v1/jobs/${id}/cancel`, { method: "POST", headers: dev }), 404, "job-not-found");
    // The queue message arrives after the cancel: acknowledged, no GPU call, still canceled, uncharged.
    const before = await gpuCalls();
    expect((await deliver("gmcnn-jobs", { job_id: id }, 1, { GPU_URL: counted })).explicitAcks).toHaveLength(1);
    expect(await gpuCalls()).toBe(before);
    expect(await getJob(testEnv.DB, id)).toMatchObject({ status: "canceled", credits_charged: 0, attempts: 0 });
    expect(await testEnv.BLOBS.head(`jobs/${id}/result`)).toBeNull();
    expect(await ledger(account.id)).toMatchObject({ n: 1, balance: 2, holds: 0 });
  });

  it("the cron sweep re-sends a job whose message was lost, and purges jobs past retention", async () => {
    const id = await storedJob("dev:x");
    await testEnv.DB.prepare("UPDATE jobs SET created_at = ? WHERE id = ?")
      .bind(Date.now() - 3600_000, id)
      .run();
    const old = await storedJob(testEnv.TEST_API_KEY);
    await deliver("gmcnn-jobs", { job_id: old });
    await testEnv.DB.prepare("UPDATE jobs SET expires_at = ? WHERE id = ?")
      .bind(Date.now() - 1, old)
      .run();
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ scheduledTime: new Date(), cron: "*/10 * * * *" }), testEnv, ctx);
    const { waitOnExecutionContext } = await import("cloudflare:test");
    await waitOnExecutionContext(ctx);
    await until("the lost job", async () => ((await getJob(testEnv.DB, id))?.status === "succeeded" ? true : undefined));
    expect(await testEnv.BLOBS.head(`jobs/${old}/result`)).toBeNull();
    expect(await testEnv.BLOBS.head(`jobs/${old}/image`)).toBeNull();
    expect((await getJob(testEnv.DB, old))?.purged_at).not.toBeNull();
  });
});

async function newKeyFor(accountId: string) {
  const res = await call(`/v1/admin/accounts/${accountId}/keys`, { method: "POST", headers: bearer(testEnv.ADMIN_TOKEN) });
  return (await res.json()) as { api_key: string };
}

// Queue deliveries take seconds each (retry delays of 1 s here): room for a loaded CI machine.
describe("outgoing webhooks", { timeout: 90_000 }, () => {
  it("a receiver that fails twice then succeeds gets one success, same webhook-id, verifiable signatures", async () => {
    const r = await receiver("flaky", { failFirst: 2 });
    const res = await submit({ ...dev }, { webhook: r.url, webhook_events_filter: "completed" });
    const job = (await res.json()) as JobDoc;
    expect(job.webhook_events_filter).toEqual(["completed"]);
    await finished(job.id);
    const log = await until("deliveries", async () => {
      const d = (await (await call(`/v1/jobs/${job.id}/deliveries`, { headers: dev })).json()) as {
        deliveries: { id: string; event: string; status: string; attempts: { status_code: number | null }[] }[];
      };
      return d.deliveries.length === 1 && d.deliveries[0].status !== "pending" ? d.deliveries : undefined;
    });
    const got = await r.received();
    const secret = ((await (await call("/v1/webhooks/default/secret", { headers: dev })).json()) as { key: string }).key;
    const wh = new Webhook(secret);
    const completed = got.filter((g) => JSON.parse(g.body).type === "job.completed");
    expect(completed.length).toBeGreaterThanOrEqual(1);
    // Three attempts overall for the first message the receiver saw (two 500s, one 204).
    const firstId = got[0].headers["webhook-id"];
    const sameId = got.filter((g) => g.headers["webhook-id"] === firstId);
    expect(sameId.map((g) => g.status)).toEqual([500, 500, 204]);
    expect(got.filter((g) => g.status === 204 && g.headers["webhook-id"] === firstId)).toHaveLength(1);
    for (const g of got) expect(() => wh.verify(g.body, g.headers)).not.toThrow();
    const payload = JSON.parse(completed[completed.length - 1].body);
    expect(payload.data).toMatchObject({ id: job.id, status: "succeeded" });
    expect(log.find((d) => d.id === firstId)?.attempts.map((a) => a.status_code)).toEqual([500, 500, 204]);
  });

  it("a receiver that always fails ends in the dead-letter path; the job stays readable", async () => {
    const r = await receiver("down", { failFirst: 1000 });
    const job = (await (await submit(dev, { webhook: r.url })).json()) as JobDoc;
    await finished(job.id);
    const d = await until(
      "the dead delivery",
      async () => {
        const x = (await (await call(`/v1/jobs/${job.id}/deliveries`, { headers: dev })).json()) as {
          deliveries: { status: string; attempts: unknown[] }[];
        };
        return x.deliveries[0]?.status === "failed" ? x.deliveries[0] : undefined;
      },
      80,
    );
    expect(d.attempts).toHaveLength(7);
    expect((await r.received()).length).toBe(7);
    expect((await jobOf(job.id)).status).toBe("succeeded");
  });

  it("schedules retries as published, honours a longer Retry-After, counts a 3xx as a failure", async () => {
    const schedule = [0, 5, 300, 1800, 7200, 18000, 36000];
    expect([2, 3, 4, 5, 6, 7].map((n) => nextDelaySeconds(schedule, n, 0))).toEqual([5, 300, 1800, 7200, 18000, 36000]);
    expect(nextDelaySeconds(schedule, 2, 120)).toBe(120);
    expect(nextDelaySeconds(schedule, 3, 120)).toBe(300);
    expect(nextDelaySeconds(schedule, 2, 999_999)).toBe(43_200); // a queue delay is at most 12 h
    expect(retryAfterSeconds("17")).toBe(17);
    expect(retryAfterSeconds(new Date(Date.now() + 60_000).toUTCString())).toBeGreaterThanOrEqual(58);
    expect(retryAfterSeconds("soon")).toBe(0);
    const r = await receiver("moved", { status: 302 });
    const job = (await (await submit(dev, { webhook: r.url })).json()) as JobDoc;
    await finished(job.id);
    const first = await until("two attempts", async () => {
      const x = (await (await call(`/v1/jobs/${job.id}/deliveries`, { headers: dev })).json()) as {
        deliveries: { status: string; attempts: { status_code: number; error: string }[] }[];
      };
      return (x.deliveries[0]?.attempts.length ?? 0) >= 2 ? x.deliveries[0] : undefined;
    });
    expect(first.attempts[0]).toMatchObject({ status_code: 302, error: "redirects are not followed" });
    expect(first.status).not.toBe("delivered");
  });

  it("after a secret rotation, deliveries verify with the old secret and with the new one", async () => {
    const { api_key } = await newAccount(3);
    const k = bearer(api_key);
    const old = ((await (await call("/v1/webhooks/default/secret", { headers: k })).json()) as { key: string }).key;
    const rotated = (await (await call("/v1/webhooks/default/secret/rotate", { method: "POST", headers: k })).json()) as {
      key: string;
    };
    expect(rotated.key).not.toBe(old);
    const r = await receiver("rotation");
    const job = (await (await submit(k, { webhook: r.url })).json()) as JobDoc;
    await finished(job.id, k);
    const [got] = await until("the delivery", async () => {
      const g = await r.received();
      return g.length ? g : undefined;
    });
    expect(got.headers["webhook-signature"].split(" ")).toHaveLength(2);
    for (const secret of [old, rotated.key]) expect(() => new Webhook(secret).verify(got.body, got.headers)).not.toThrow();
    expect(() => new Webhook(`whsec_${btoa("another secret, 24 bytes!")}`).verify(got.body, got.headers)).toThrow();
  });

  it("410 Gone stops at once", async () => {
    const r = await receiver("gone", { status: 410 });
    const job = (await (await submit(dev, { webhook: r.url })).json()) as JobDoc;
    await finished(job.id);
    const d = await until("the stop", async () => {
      const x = (await (await call(`/v1/jobs/${job.id}/deliveries`, { headers: dev })).json()) as {
        deliveries: { id: string; status: string; next_attempt_at: string | null; attempts: { status_code: number }[] }[];
      };
      return x.deliveries[0]?.status === "failed" ? x.deliveries[0] : undefined;
    });
    // Stopped, not waiting: one attempt, nothing scheduled, and a duplicate of its queue message
    // sends nothing more.
    expect(d.attempts.map((a) => a.status_code)).toEqual([410]);
    expect(d.next_attempt_at).toBeNull();
    expect((await deliver("gmcnn-webhooks", { delivery_id: d.id })).explicitAcks).toHaveLength(1);
    expect((await r.received()).length).toBe(1);
  });
});

describe("incoming webhook triggers", { timeout: 60_000 }, () => {
  it("verifies, creates a job billed to the integration's account, drops replays and refuses tampering", async () => {
    const { account, api_key } = await newAccount(4);
    const created = await admin("/v1/admin/integrations", { name: `pix-${Date.now() % 100000}`, account_id: account.id });
    expect(created.status).toBe(201);
    const { name, secret } = (await created.json()) as { name: string; secret: string };
    await fetch(`${testEnv.RECEIVER_URL}/files/hook.png`, { method: "PUT", body: img, headers: { "Content-Type": "image/png" } });
    const cb = await receiver("cb");
    const body = JSON.stringify({
      type: "inpaint.requested",
      data: {
        image_url: `${testEnv.RECEIVER_URL}/files/hook.png`,
        mask_shapes: JSON.parse(shapes),
        callback_url: cb.url,
        webhook_events_filter: ["started", "completed"],
      },
    });
    const wh = new Webhook(secret);
    const post = (b: string, headers: Record<string, string>) =>
      call(`/v1/hooks/${name}`, { method: "POST", body: b, headers: { "Content-Type": "application/json", ...headers } });
    const signed = (id: string, at: Date, b = body) => ({
      "webhook-id": id,
      "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
      "webhook-signature": wh.sign(id, at, b),
    });
    const now = new Date();
    const ok = await post(body, signed("msg_1", now));
    expect(ok.status).toBe(202);
    const job = (await ok.json()) as JobDoc;
    await expectProblem(await post(body, signed("msg_1", now)), 409, "webhook-replayed");
    await expectProblem(await post(body.replace("inpaint", "xnpaint"), signed("msg_2", now)), 401, "invalid-signature");
    await expectProblem(await post(body, signed("msg_3", new Date(Date.now() - 6 * 60_000))), 401, "invalid-signature");
    await expectProblem(await post(body, { "webhook-id": "msg_4" }), 401, "invalid-signature");
    // An unknown integration answers as a bad signature (issue #20, item 9).
    await expectProblem(await call("/v1/hooks/nobody", { method: "POST", body }), 401, "invalid-signature");
    await expectProblem(await post("x".repeat(70_000), signed("msg_5", now, "x".repeat(70_000))), 413, "payload-too-large");
    const done = await finished(job.id, bearer(api_key));
    expect(done).toMatchObject({ status: "succeeded", credits_charged: 1 });
    expect(await ledger(account.id)).toMatchObject({ balance: 3, holds: 0 });
    // Both events reach the callback, signed with the account's secret.
    const got = await until("the callbacks", async () => {
      const g = await cb.received();
      return g.length >= 2 ? g : undefined;
    });
    expect(got.map((g) => JSON.parse(g.body).type).sort()).toEqual(["job.completed", "job.started"]);
    const key = ((await (await call("/v1/webhooks/default/secret", { headers: bearer(api_key) })).json()) as { key: string }).key;
    for (const g of got) expect(() => new Webhook(key).verify(g.body, g.headers)).not.toThrow();
  });
});

it("hole pixels of a job's result are the GPU's fill, the rest unchanged", async () => {
  const res = await submit({ ...dev, Prefer: "wait=20" });
  const job = (await res.json()) as JobDoc;
  const out = await call(`/v1/jobs/${job.id}/result`, { headers: dev });
  const { decodeUpload, inspectUpload } = await import("../../workers/codecs.ts");
  const bytes = new Uint8Array(await out.arrayBuffer());
  const h = inspectUpload(bytes, "image", { maxUploadBytes: 1e7, maxMegapixels: 10, maxSide: 1000 }, ["png"]);
  const px = await decodeUpload(bytes, h, "result");
  const src = photo(W, H);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const i = (y * W + x) * 4;
      const inHole = x >= box.x && x < box.x + box.width && y >= box.y && y < box.y + box.height;
      const want = inHole ? [...FILL] : [src.data[i], src.data[i + 1], src.data[i + 2]];
      expect([px.data[i], px.data[i + 1], px.data[i + 2]]).toEqual(want);
    }
});
