/**
 * Accounts and billing against real bindings (D1, R2, Durable Objects) and the GPU stand-in:
 * the admin API, metered keys, holds that cannot overdraw, Idempotency-Key, revocation and
 * per-key rate limits.
 */
import { describe, expect, it } from "vitest";
import { createApp } from "../../workers/app.ts";
import { encodeImage } from "../../workers/codecs.ts";
import { boxMask, form, photo, testEnv } from "./helpers.ts";

const app = createApp();
const metered = `${testEnv.STAND_IN_URL}/metered`;
const gpuCalls = async () => ((await (await fetch(`${metered}/count`)).json()) as { count: number }).count;
/** Long windows: a window boundary must not fall inside a test. */
const vars = { GPU_URL: metered, RATE_LIMIT_WINDOW_S: "3600" };
const call = (path: string, init: RequestInit = {}, extra: Record<string, string> = {}) =>
  app.request(path, init, { ...testEnv, ...vars, ...extra });

const admin = (path: string, body?: unknown, method = body === undefined ? "GET" : "POST", token = testEnv.ADMIN_TOKEN) =>
  call(path, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

async function newAccount(credits: number, extra: Record<string, unknown> = {}) {
  const res = await admin("/v1/admin/accounts", { name: "test", credits, ...extra });
  expect(res.status).toBe(201);
  return (await res.json()) as { account: { id: string; credits_remaining: number }; key: { id: string }; api_key: string };
}

const img = await encodeImage(photo(16, 16), "png", 90);
const mask = await encodeImage(boxMask(16, 16, { x: 4, y: 4, width: 5, height: 5 }), "png", 90);
const otherMask = await encodeImage(boxMask(16, 16, { x: 2, y: 2, width: 3, height: 3 }), "png", 90);

const inpaint = (key: string, headers: Record<string, string> = {}, m = mask, extra: Record<string, string> = {}) =>
  call(
    "/v1/inpaint",
    { method: "POST", body: form(img, m), headers: { Authorization: `Bearer ${key}`, "Cache-Control": "no-store", ...headers } },
    extra,
  );
const usage = (key: string, query = "") => call(`/v1/usage${query}`, { headers: { Authorization: `Bearer ${key}` } });

async function ledgerSum(accountId: string) {
  return testEnv.DB.prepare(
    "SELECT COALESCE(SUM(delta), 0) AS sum, MIN(balance_after) AS low, (SELECT balance FROM accounts WHERE id = ?1) AS balance FROM ledger WHERE account_id = ?1",
  )
    .bind(accountId)
    .first<{ sum: number; low: number; balance: number }>();
}

async function expectProblem(res: Response, status: number, kind: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  const doc = (await res.json()) as Record<string, unknown>;
  expect(doc.type).toBe(`https://gmcnn-edge.dev/problems/${kind}`);
  return doc;
}

describe("admin API", () => {
  it("refuses requests without the admin token, with a wrong one, and with an API key", async () => {
    const { api_key } = await newAccount(1);
    await expectProblem(await call("/v1/admin/accounts", { method: "POST", body: "{}" }), 401, "admin-unauthorized");
    await expectProblem(await admin("/v1/admin/accounts", { name: "x" }, "POST", "wrong"), 401, "admin-unauthorized");
    await expectProblem(await admin("/v1/admin/accounts", { name: "x" }, "POST", api_key), 401, "admin-unauthorized");
    await expectProblem(
      await admin("/v1/admin/accounts", { name: "x" }, "POST", testEnv.TEST_API_KEY),
      401,
      "admin-unauthorized",
    );
    await expectProblem(await call("/v1/admin/accounts/x", {}, { ADMIN_TOKEN: "" }), 401, "admin-unauthorized");
  });

  it("creates accounts and keys (stored as prefix + hash only), adds credits, reads the ledger", async () => {
    const created = await newAccount(5);
    expect(created.api_key).toMatch(/^gmk_[0-9a-f]{40}$/);
    expect(created.account).toMatchObject({ name: "test", credits_remaining: 5 });
    const row = await testEnv.DB.prepare("SELECT prefix, hash FROM api_keys WHERE id = ?")
      .bind(created.key.id)
      .first<{ prefix: string; hash: string }>();
    expect(created.api_key.startsWith(row!.prefix)).toBe(true);
    expect(row!.hash).not.toContain(created.api_key.slice(row!.prefix.length));

    const id = created.account.id;
    await expectProblem(await admin(`/v1/admin/accounts/${id}/credits`, { credits: -3 }), 400, "invalid-options");
    const topped = await admin(`/v1/admin/accounts/${id}/credits`, { credits: 7, note: "top-up" });
    expect(((await topped.json()) as { credits_remaining: number }).credits_remaining).toBe(12);
    const key2 = (await (await admin(`/v1/admin/accounts/${id}/keys`, {})).json()) as { api_key: string };
    expect(key2.api_key).not.toBe(created.api_key);
    const acct = (await (await admin(`/v1/admin/accounts/${id}`)).json()) as { keys: unknown[] };
    expect(acct.keys).toHaveLength(2);

    const ledger = (await (await admin(`/v1/admin/accounts/${id}/ledger?limit=1`)).json()) as {
      credits_remaining: number;
      entries: { delta: number; note: string }[];
      next_cursor: string;
    };
    expect(ledger.credits_remaining).toBe(12);
    expect(ledger.entries).toMatchObject([{ delta: 7, note: "top-up" }]);
    const next = (await (await admin(`/v1/admin/accounts/${id}/ledger?cursor=${ledger.next_cursor}`)).json()) as typeof ledger;
    expect(next.entries).toMatchObject([{ delta: 5 }]);
    expect(next.next_cursor).toBeNull();
    await expectProblem(await admin("/v1/admin/accounts/acct_nope"), 404, "not-found");
  });
});

describe("metered calls", () => {
  it("charges one call once, with the credit headers, and lists it in /v1/usage", async () => {
    const { api_key } = await newAccount(3);
    const res = await inpaint(api_key);
    expect(res.status).toBe(200);
    expect(res.headers.get("x-credits-charged")).toBe("1");
    expect(res.headers.get("x-credits-remaining")).toBe("2");
    const page = (await (await usage(api_key)).json()) as {
      credits_remaining: number;
      entries: { kind: string; delta: number }[];
    };
    expect(page.credits_remaining).toBe(2);
    expect(page.entries.map((e) => [e.kind, e.delta])).toEqual([
      ["inpaint", -1],
      ["grant", 3],
    ]);
  });

  it("charges nothing for an empty mask or a failure", async () => {
    const { api_key, account } = await newAccount(3);
    const before = await gpuCalls();
    const empty = await inpaint(api_key, {}, await encodeImage(boxMask(16, 16), "png", 90));
    expect(empty.status).toBe(200);
    expect(empty.headers.get("x-credits-charged")).toBe("0");
    expect(await gpuCalls()).toBe(before); // nothing to fill: no GPU call
    const failed = await inpaint(api_key, {}, mask, { GPU_URL: testEnv.DEAD_GPU_URL });
    expect(failed.status).toBe(503);
    expect(failed.headers.get("x-credits-charged")).toBe("0");
    expect(failed.headers.get("x-credits-remaining")).toBe("3");
    // Not the headers' word only: the ledger has the grant alone and no hold is left behind (a
    // hold kept by the failed call would cut the credits available to the next one).
    const rows = await testEnv.DB.prepare("SELECT kind, delta FROM ledger WHERE account_id = ?").bind(account.id).all();
    expect(rows.results).toEqual([{ kind: "grant", delta: 3 }]);
    expect(await ledgerSum(account.id)).toEqual({ sum: 3, low: 3, balance: 3 });
    const holds = await testEnv.DB.prepare("SELECT COUNT(*) AS n FROM holds WHERE account_id = ?")
      .bind(account.id)
      .first<{ n: number }>();
    expect(holds?.n).toBe(0);
  });

  it("50 concurrent calls against credits for 20: exactly 20 succeed and are charged, never overdrawn", async () => {
    const { api_key, account } = await newAccount(20);
    const before = await gpuCalls();
    const results = await Promise.all(Array.from({ length: 50 }, () => inpaint(api_key)));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(20);
    expect(statuses.filter((s) => s === 402)).toHaveLength(30);
    expect(await gpuCalls()).toBe(before + 20);
    const sums = await ledgerSum(account.id);
    expect(sums).toEqual({ sum: 0, low: 0, balance: 0 });
    const charged = results.filter((r) => r.status === 200).map((r) => r.headers.get("x-credits-charged"));
    expect(charged).toEqual(Array(20).fill("1"));
  });

  it("402 before any GPU work when the balance cannot cover the call", async () => {
    const { api_key } = await newAccount(0);
    const before = await gpuCalls();
    const doc = await expectProblem(await inpaint(api_key), 402, "payment-required");
    expect(doc).toMatchObject({ credits_required: 1, credits_available: 0 });
    expect(await gpuCalls()).toBe(before);
  });

  it("a cache hit costs PRICE_CACHE_HIT_PERCENT of the price", async () => {
    const { api_key } = await newAccount(10);
    const opts = { PRICE_TIERS: "1:4", PRICE_CACHE_HIT_PERCENT: "50" };
    const send = () =>
      call(
        "/v1/inpaint",
        { method: "POST", body: form(img, otherMask, { dilate: "1" }), headers: { Authorization: `Bearer ${api_key}` } },
        opts,
      );
    const miss = await send();
    expect([miss.headers.get("x-cache"), miss.headers.get("x-credits-charged")]).toEqual(["MISS", "4"]);
    const hit = await send();
    expect([hit.headers.get("x-cache"), hit.headers.get("x-credits-charged"), hit.headers.get("x-credits-remaining")]).toEqual([
      "HIT",
      "2",
      "4",
    ]);
  });

  it("dev keys (API_KEYS) stay unmetered and have no usage", async () => {
    const res = await inpaint(testEnv.TEST_API_KEY);
    expect(res.status).toBe(200);
    expect(res.headers.get("x-credits-charged")).toBeNull();
    await expectProblem(await usage(testEnv.TEST_API_KEY), 403, "forbidden");
  });
});

describe("Idempotency-Key", () => {
  it("replays the stored response for the same request and charges nothing", async () => {
    const { api_key, account } = await newAccount(5);
    const before = await gpuCalls();
    const first = await inpaint(api_key, { "Idempotency-Key": "order-1" });
    expect(first.status).toBe(200);
    const again = await inpaint(api_key, { "Idempotency-Key": "order-1" }); // a new multipart boundary, same request
    expect(again.status).toBe(200);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.headers.get("x-credits-charged")).toBe("0");
    expect(again.headers.get("x-credits-remaining")).toBe("4");
    expect(new Uint8Array(await again.arrayBuffer())).toEqual(new Uint8Array(await first.arrayBuffer()));
    expect(await gpuCalls()).toBe(before + 1);
    expect((await ledgerSum(account.id))?.balance).toBe(4);
  });

  it("422 for the same key with another request", async () => {
    const { api_key } = await newAccount(5);
    expect((await inpaint(api_key, { "Idempotency-Key": "k" })).status).toBe(200);
    const res = await inpaint(api_key, { "Idempotency-Key": "k" }, otherMask);
    await expectProblem(res, 422, "idempotency-mismatch");
    expect(res.headers.get("x-credits-charged")).toBe("0");
  });

  it("409 while the first request is in flight; the key is free again after a failure", async () => {
    const { api_key, account } = await newAccount(5);
    const slow = { GPU_URL: `${testEnv.STAND_IN_URL}/slow` };
    const first = inpaint(api_key, { "Idempotency-Key": "busy" }, mask, slow);
    // In flight = its claim is stored and pending (the slow stand-in holds it for 3 s after).
    const claimed = testEnv.DB.prepare("SELECT state FROM idempotency_keys WHERE account_id = ? AND key = 'busy'").bind(
      account.id,
    );
    while ((await claimed.first<{ state: string }>())?.state !== "pending") await new Promise((r) => setTimeout(r, 20));
    const second = await inpaint(api_key, { "Idempotency-Key": "busy" });
    await expectProblem(second, 409, "idempotency-in-flight");
    expect(second.headers.get("retry-after")).toBe("1");
    expect((await first).status).toBe(200);

    const failed = await inpaint(api_key, { "Idempotency-Key": "flaky" }, mask, { GPU_URL: testEnv.DEAD_GPU_URL });
    expect(failed.status).toBe(503);
    const retried = await inpaint(api_key, { "Idempotency-Key": "flaky" });
    expect(retried.status).toBe(200);
    expect(retried.headers.get("idempotent-replayed")).toBeNull();
  });
});

describe("keys and rate limits", () => {
  it("a revoked key is refused at once", async () => {
    const { api_key, account, key } = await newAccount(5);
    expect((await usage(api_key)).status).toBe(200);
    const res = await admin(`/v1/admin/accounts/${account.id}/keys/${key.id}`, undefined, "DELETE");
    expect(res.status).toBe(204);
    await expectProblem(await usage(api_key), 401, "unauthorized");
    await expectProblem(await inpaint(api_key), 401, "unauthorized");
  });

  it("429 with Retry-After past the account's limit; RateLimit headers on every response", async () => {
    const { api_key } = await newAccount(5, { rate_limit: 3 });
    for (let r = 2; r >= 0; r--) {
      const res = await usage(api_key);
      expect(res.status).toBe(200);
      expect(res.headers.get("ratelimit-policy")).toBe('"default";q=3;w=3600');
      expect(res.headers.get("ratelimit")).toMatch(new RegExp(`^"default";r=${r};t=\\d+$`));
    }
    const res = await usage(api_key);
    await expectProblem(res, 429, "rate-limited");
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(res.headers.get("ratelimit")).toMatch(/^"default";r=0;t=\d+$/);
    expect(res.headers.get("ratelimit-policy")).toBe('"default";q=3;w=3600');
  });
});

describe("OpenAPI", () => {
  it("documents the admin and usage routes and the billing responses", async () => {
    const doc = (await (await call("/openapi.json")).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, { headers?: object }> }>>;
      components: { securitySchemes: object };
    };
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(["/v1/usage", "/v1/admin/accounts", "/v1/admin/accounts/{id}/keys/{key_id}"]),
    );
    const inpaintOp = doc.paths["/v1/inpaint"].post;
    expect(Object.keys(inpaintOp.responses)).toEqual(expect.arrayContaining(["402", "409", "429"]));
    expect(inpaintOp.responses["200"].headers).toHaveProperty("X-Credits-Charged");
    expect(doc.components.securitySchemes).toHaveProperty("admin");
  });
});
