/**
 * Browser tokens (POST /v1/tokens) against real D1, R2 and the GPU stand-in: a token inpaints and
 * bills the minting account, works only on its scopes' routes, only from its origin, only until
 * it expires, only while the minting key lives; it cannot mint tokens; /v1 answers CORS.
 */
import { describe, expect, it } from "vitest";
import { createApp } from "../../workers/app.ts";
import { encodeImage } from "../../workers/codecs.ts";
import { boxMask, form, photo, testEnv } from "./helpers.ts";

const app = createApp();
const vars = { GPU_URL: `${testEnv.STAND_IN_URL}/ok`, RATE_LIMIT_WINDOW_S: "3600" };
const call = (path: string, init: RequestInit = {}, extra: Record<string, string> = {}) =>
  app.request(path, init, { ...testEnv, ...vars, ...extra });
const bearer = (t: string, more: Record<string, string> = {}) => ({ Authorization: `Bearer ${t}`, ...more });
const json = (body: unknown) => ({ "Content-Type": "application/json", body: JSON.stringify(body) });

async function mint(key: string, body: unknown = {}) {
  const { body: b, ...h } = json(body);
  return call("/v1/tokens", { method: "POST", headers: bearer(key, h), body: b });
}
async function token(key: string, body: unknown = {}) {
  const res = await mint(key, body);
  expect(res.status).toBe(201);
  return (await res.json()) as { token: string; id: string; scopes: string[]; origin: string | null; expires_at: string };
}
async function problem(res: Response, status: number, kind: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  expect(((await res.json()) as { type: string }).type).toBe(`https://gmcnn-edge.dev/problems/${kind}`);
}
async function account(credits: number) {
  const res = await call("/v1/admin/accounts", {
    method: "POST",
    headers: bearer(testEnv.ADMIN_TOKEN, { "Content-Type": "application/json" }),
    body: JSON.stringify({ name: "tokens", credits }),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as { account: { id: string }; key: { id: string }; api_key: string };
}

const img = await encodeImage(photo(16, 16), "png", 90);
const mask = await encodeImage(boxMask(16, 16, { x: 4, y: 4, width: 5, height: 5 }), "png", 90);
const inpaint = (t: string, headers: Record<string, string> = {}) =>
  call("/v1/inpaint", { method: "POST", body: form(img, mask), headers: bearer(t, { "Cache-Control": "no-store", ...headers }) });

describe("POST /v1/tokens", () => {
  it("mints a gmt_ token with defaults (inpaint, 15 min) that inpaints and bills the account", async () => {
    const a = await account(10);
    const before = Date.now();
    const t = await token(a.api_key);
    const after = Date.now();
    expect(t.token).toMatch(/^gmt_[0-9a-f]{48}$/);
    expect(t.scopes).toEqual(["inpaint"]);
    // 15 min from the mint's own clock (the row's created_at), not from this test's.
    const minted = await testEnv.DB.prepare("SELECT created_at, expires_at FROM browser_tokens WHERE id = ?")
      .bind(t.id)
      .first<{ created_at: number; expires_at: number }>();
    expect(Date.parse(t.expires_at)).toBe(minted?.expires_at);
    expect((minted?.expires_at ?? 0) - (minted?.created_at ?? 0)).toBe(900_000);
    expect(minted?.created_at).toBeGreaterThanOrEqual(before);
    expect(minted?.created_at).toBeLessThanOrEqual(after);
    const res = await inpaint(t.token);
    expect(res.status).toBe(200);
    expect(res.headers.get("x-credits-charged")).toBe("1");
    expect(res.headers.get("x-credits-remaining")).toBe("9");
    // D1 holds the hash only.
    const row = await testEnv.DB.prepare("SELECT hash FROM browser_tokens WHERE id = ?").bind(t.id).first<{ hash: string }>();
    expect(row?.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(row?.hash).not.toContain(t.token.slice(4));
  });

  it("is refused outside its scopes (403), and cannot mint tokens or read usage", async () => {
    const a = await account(10);
    const t = await token(a.api_key, { scopes: ["inpaint"] });
    await problem(await call("/v1/usage", { headers: bearer(t.token) }), 403, "forbidden");
    await problem(await mint(t.token), 403, "forbidden");
    await problem(await call("/v1/jobs", { headers: bearer(t.token) }), 403, "forbidden");
    const up = new FormData();
    up.append("file", new Blob([img]), "x.png");
    await problem(await call("/v1/uploads", { method: "POST", body: up, headers: bearer(t.token) }), 403, "forbidden");
    const withUploads = await token(a.api_key, { scopes: ["inpaint", "uploads"] });
    const ok = await call("/v1/uploads", { method: "POST", body: up, headers: bearer(withUploads.token) });
    expect([200, 201]).toContain(ok.status);
  });

  it("a jobs token sees the account's job but not the list", async () => {
    const a = await account(10);
    const t = await token(a.api_key, { scopes: ["jobs"] });
    const created = await call("/v1/jobs", { method: "POST", body: form(img, mask), headers: bearer(t.token) });
    expect(created.status).toBe(202);
    const job = (await created.json()) as { id: string };
    expect((await call(`/v1/jobs/${job.id}`, { headers: bearer(t.token) })).status).toBe(200);
    expect((await call(`/v1/jobs/${job.id}`, { headers: bearer(a.api_key) })).status).toBe(200);
    await problem(await call(`/v1/jobs/${job.id}/deliveries`, { headers: bearer(t.token) }), 403, "forbidden");
  });

  it("checks the Origin it was minted for", async () => {
    const a = await account(10);
    const t = await token(a.api_key, { origin: "https://app.example.com" });
    expect(t.origin).toBe("https://app.example.com");
    await problem(await inpaint(t.token, { Origin: "https://evil.example.net" }), 403, "forbidden");
    expect((await inpaint(t.token, { Origin: "https://app.example.com" })).status).toBe(200);
  });

  it("expires, and dies with a revoked key", async () => {
    const a = await account(10);
    const t = await token(a.api_key, { ttl_seconds: 30 });
    await testEnv.DB.prepare("UPDATE browser_tokens SET expires_at = ? WHERE id = ?")
      .bind(Date.now() - 1, t.id)
      .run();
    await problem(await inpaint(t.token), 401, "unauthorized");
    const live = await token(a.api_key);
    expect((await inpaint(live.token)).status).toBe(200);
    const revoke = await call(`/v1/admin/accounts/${a.account.id}/keys/${a.key.id}`, {
      method: "DELETE",
      headers: bearer(testEnv.ADMIN_TOKEN),
    });
    expect(revoke.status).toBeLessThan(300);
    await problem(await inpaint(live.token), 401, "unauthorized");
  });

  it("refuses bad requests and unknown tokens", async () => {
    await problem(await mint(testEnv.TEST_API_KEY, { ttl_seconds: 99999 }), 400, "invalid-options");
    await problem(await mint(testEnv.TEST_API_KEY, { scopes: ["admin"] }), 400, "invalid-options");
    await problem(await mint(testEnv.TEST_API_KEY, { origin: "https://a.example/path" }), 422, "invalid-origin");
    await problem(await inpaint(`gmt_${"0".repeat(48)}`), 401, "unauthorized");
    await problem(await inpaint("gmt_short"), 401, "unauthorized");
  });

  it("dev keys mint tokens too (unmetered), and the demo route is off unless DEMO_TOKENS=true", async () => {
    const t = await token(testEnv.TEST_API_KEY, { scopes: ["inpaint"] });
    const res = await inpaint(t.token);
    expect(res.status).toBe(200);
    expect(res.headers.get("x-credits-charged")).toBeNull();
    await problem(await call("/demo/token", { method: "POST" }), 404, "not-found");
    const demo = await call("/demo/token", { method: "POST" }, { DEMO_TOKENS: "true" });
    expect(demo.status).toBe(201);
    const d = (await demo.json()) as { token: string; scopes: string[] };
    expect(d.scopes).toEqual(["inpaint", "uploads", "jobs"]);
    expect((await inpaint(d.token, { Origin: "http://localhost" })).status).toBe(200);
  });
});

describe("CORS on /v1", () => {
  it("answers a preflight and exposes the headers a client reads", async () => {
    const pre = await call("/v1/inpaint", {
      method: "OPTIONS",
      headers: {
        Origin: "https://app.example.com",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, idempotency-key",
      },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe("*");
    expect(pre.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("idempotency-key");
    const res = await call("/v1/usage", { headers: bearer(testEnv.TEST_API_KEY, { Origin: "https://app.example.com" }) });
    expect(res.headers.get("access-control-expose-headers")).toContain("Retry-After");
  });
});
