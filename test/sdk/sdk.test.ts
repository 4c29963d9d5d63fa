/**
 * The SDK in Node 20 against the real local stack (wrangler dev + the GPU function server with
 * the shipped model): every call it offers, its typed errors, automatic Idempotency-Keys that make
 * a retry after a lost answer charge once, retries that wait out a real 429's Retry-After, browser
 * tokens, and webhook verification of a real delivery.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeImage, encodeImage } from "../../gpu-jobs/codecs.ts";
import { ROOT, type Stack, startStack } from "../../scripts/stack.ts";
import { Gmcnn, GmcnnError, type RetryEvent } from "../../sdk/index.ts";
import { photo } from "../e2e/images.ts";

let stack: Stack;
let persist: string;
let server: Server;
let serverUrl: string;
const logs: string[] = [];
const hooks: { headers: Record<string, string>; body: string }[] = [];
let png: Uint8Array;
const stroke = { type: "stroke" as const, width: 8, points: [[20, 20] as [number, number], [40, 30] as [number, number]] };

beforeAll(async () => {
  persist = mkdtempSync(join(tmpdir(), "gmcnn-sdk-"));
  png = await encodeImage(photo(64, 48), "png");
  // One local server: the image for URL inputs, and the webhook receiver.
  server = createServer((req, res) => {
    if (req.method === "GET") {
      res.writeHead(200, { "content-type": "image/png" }).end(png);
      return;
    }
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      hooks.push({ headers: req.headers as Record<string, string>, body: Buffer.concat(chunks).toString("utf8") });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  serverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // A 2 s rate-limit window: the 429 test waits one Retry-After, not a minute.
  stack = await startStack({
    persistTo: persist,
    gpuEnv: { GMCNN_LOG: "0" },
    vars: { RATE_LIMIT_WINDOW_S: "2" },
    log: (src, line) => logs.push(`[${src}] ${line}`),
  });
}, 300_000);

afterAll(async () => {
  await stack?.stop();
  server?.close();
  rmSync(persist, { recursive: true, force: true });
});

async function account(credits: number, rateLimit?: number) {
  const res = await fetch(`${stack.edgeUrl}/v1/admin/accounts`, {
    method: "POST",
    headers: { Authorization: `Bearer ${stack.adminToken}`, "Content-Type": "application/json" },
    body: JSON.stringify({ name: "sdk", credits, ...(rateLimit ? { rate_limit: rateLimit } : {}) }),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as { account: { id: string }; api_key: string };
}

const client = (apiKey: string, more: Partial<ConstructorParameters<typeof Gmcnn>[0]> = {}) =>
  new Gmcnn({ baseUrl: stack.edgeUrl, apiKey, ...more });

describe("SDK against the local stack", () => {
  it("inpaint: bytes or an upload id, shapes or a PNG mask; usage shows one charge per call", async () => {
    const a = await account(50);
    const sdk = client(a.api_key);
    const r = await sdk.inpaint({ image: new Blob([png as Uint8Array<ArrayBuffer>]), mask: [stroke] });
    expect(r.contentType).toBe("image/png");
    expect(r.creditsCharged).toBe(1);
    expect(r.model).toMatch(/^gmcnn@/);
    const out = (await decodeImage(new Uint8Array(await r.blob.arrayBuffer()), "out")).image;
    expect([out.width, out.height]).toEqual([64, 48]);

    const up = await sdk.uploads.create(png.buffer.slice(png.byteOffset, png.byteOffset + png.byteLength) as ArrayBuffer);
    expect(up).toMatchObject({ width: 64, height: 48 });
    const mask = new Uint8Array(64 * 48 * 4);
    for (let i = 0; i < 64 * 48; i++) mask.set(i % 64 > 30 && i % 64 < 36 ? [255, 255, 255, 255] : [0, 0, 0, 255], i * 4);
    const maskPng = await encodeImage({ width: 64, height: 48, data: new Uint8ClampedArray(mask.buffer) }, "png");
    const byId = await sdk.inpaint({ image: { uploadId: up.id }, mask: maskPng, output_format: "webp" });
    expect(byId.contentType).toBe("image/webp");

    const usage = await sdk.usage({ limit: 10 });
    expect(usage.credits_remaining).toBe(50 - 2);
    expect(usage.entries.filter((e) => e.kind === "inpaint")).toHaveLength(2);
  });

  it("a retry after a lost answer reuses the Idempotency-Key: the account is charged once", async () => {
    const a = await account(10);
    let calls = 0;
    const keys: string[] = [];
    const retries: RetryEvent[] = [];
    // The first answer is lost on the way back (the server did the work): the SDK must resend safely.
    const lossy: typeof fetch = async (input, init) => {
      calls++;
      keys.push(new Headers(init?.headers).get("idempotency-key") ?? "");
      const res = await fetch(input, init);
      if (calls === 1) {
        await res.arrayBuffer();
        throw new TypeError("fetch failed: connection reset");
      }
      return res;
    };
    const sdk = client(a.api_key, { fetch: lossy, onRetry: (e) => retries.push(e), retry: { baseDelayMs: 50 } });
    const r = await sdk.inpaint({ image: png, mask: [stroke] }, {});
    expect(calls).toBe(2);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(keys[1]).toBe(keys[0]);
    expect(retries).toHaveLength(1);
    expect(retries[0].error.kind).toBe("network");
    expect(r.replayed).toBe(true);
    const usage = await client(a.api_key).usage();
    expect(usage.credits_remaining).toBe(9);
  });

  it("waits out a real 429 for as long as Retry-After says, then succeeds", async () => {
    const a = await account(10, 1);
    const retries: RetryEvent[] = [];
    const sdk = client(a.api_key, { onRetry: (e) => retries.push(e), retry: { retries: 4 } });
    await sdk.jobs.list({ limit: 1 });
    const page = await sdk.jobs.list({ limit: 1 }); // the second in the same window: 429, then a retry
    expect(page.jobs).toEqual([]);
    expect(retries.length).toBeGreaterThanOrEqual(1);
    expect(retries[0].status).toBe(429);
    expect(retries[0].retryAfter).toBeGreaterThanOrEqual(1);
    expect(retries[0].delayMs).toBeGreaterThanOrEqual(retries[0].retryAfter! * 1000);
    // Without retries the same 429 is thrown as a typed error carrying the problem document.
    const once = client(a.api_key, { retry: { retries: 0 } });
    await once.jobs.list().catch(() => undefined);
    const e = (await once.jobs.list().catch((x) => x)) as GmcnnError;
    expect(e).toBeInstanceOf(GmcnnError);
    expect(e.status).toBe(429);
    expect(e.kind).toBe("rate-limited");
    expect(e.retryAfter).toBeGreaterThanOrEqual(1);
    expect(e.problem).toMatchObject({ type: "https://gmcnn-edge.dev/problems/rate-limited", status: 429 });
  });

  it("jobs: create (bytes, and URLs as JSON), wait, result, list, cancel, and a verified webhook", async () => {
    const a = await account(20);
    const sdk = client(a.api_key);
    const job = await sdk.jobs.create({ image: png, mask: { shapes: [stroke] }, webhook: `${serverUrl}/hook` });
    expect(["queued", "processing", "succeeded"]).toContain(job.status);
    const done = await sdk.jobs.wait(job.id, { intervalMs: 200, timeoutMs: 100_000 });
    expect(done.status).toBe("succeeded");
    expect(done.credits_charged).toBe(1);
    const result = await sdk.jobs.result(done);
    expect((await decodeImage(new Uint8Array(await result.arrayBuffer()), "result")).image.width).toBe(64);

    const byUrl = await sdk.jobs.create({ image: new URL(`${serverUrl}/in.png`), mask: [stroke], wait: 30 });
    expect(byUrl.status).toBe("succeeded");
    const list = await sdk.jobs.list({ limit: 10 });
    expect(list.jobs.map((j) => j.id)).toEqual(expect.arrayContaining([job.id, byUrl.id]));
    const e = (await sdk.jobs.cancel(byUrl.id).catch((x) => x)) as GmcnnError;
    expect(e.kind).toBe("job-finished");
    expect(e.status).toBe(409);
    expect(((await sdk.jobs.get("nope").catch((x) => x)) as GmcnnError).kind).toBe("job-not-found");

    // The completed webhook: verified with the account's secret, refused when tampered with.
    const secret = await sdk.webhooks.secret();
    for (let i = 0; i < 100 && !hooks.some((h) => h.body.includes(job.id)); i++) await new Promise((r) => setTimeout(r, 100));
    const hook = hooks.find((h) => h.body.includes(job.id))!;
    const payload = sdk.webhooks.verify(hook.headers, hook.body, secret.key);
    expect(payload.type).toBe("job.completed");
    expect(payload.data.id).toBe(job.id);
    const forged = (() => {
      try {
        sdk.webhooks.verify(hook.headers, hook.body.replace("succeeded", "failed"), secret.key);
      } catch (x) {
        return x as GmcnnError;
      }
    })();
    expect(forged?.kind).toBe("invalid-signature");
  });

  it("a browser token from tokens.create works in a second client, only on its scopes", async () => {
    const a = await account(10);
    const t = await client(a.api_key).tokens.create({ scopes: ["inpaint"], ttl_seconds: 120 });
    let minted = 0;
    const browser = new Gmcnn({
      baseUrl: stack.edgeUrl,
      token: () => {
        minted++;
        return t.token;
      },
    });
    expect((await browser.inpaint({ image: png, mask: [stroke] })).creditsCharged).toBe(1);
    expect(minted).toBe(1);
    const e = (await browser.usage().catch((x) => x)) as GmcnnError;
    expect(e.kind).toBe("forbidden");
    expect(e.detail).toContain("scopes inpaint");
  });

  it("bad input is one typed error with the problem document and the request id", async () => {
    const sdk = client(stack.apiKey);
    const e = (await sdk.inpaint({ image: new Uint8Array([1, 2, 3]), mask: [stroke] }).catch((x) => x)) as GmcnnError;
    expect(e).toBeInstanceOf(GmcnnError);
    expect([415, 422]).toContain(e.status);
    expect(e.problem.type).toMatch(/^https:\/\/gmcnn-edge\.dev\/problems\//);
    expect(e.requestId).toBeTruthy();
    const unauth = (await client("gmk_wrong")
      .usage()
      .catch((x) => x)) as GmcnnError;
    expect(unauth.kind).toBe("unauthorized");
  });

  it("/openapi.json passes Redocly's recommended rules with no errors, and every operation has an operationId", async () => {
    const text = await (await fetch(`${stack.edgeUrl}/openapi.json`)).text();
    const file = join(persist, "openapi.json");
    writeFileSync(file, text);
    // Asynchronously: a spawnSync blocks the event loop for the lint's seconds, the edge closes the
    // idle keep-alive connection meanwhile, and the next test's fetch reuses the dead socket.
    const r = await new Promise<{ stdout: string }>((resolve) =>
      execFile(
        process.execPath,
        [join(ROOT, "node_modules/@redocly/cli/bin/cli.js"), "lint", file, "--format=json"],
        {
          encoding: "utf8",
          maxBuffer: 64 << 20,
          env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" },
        },
        (_e, stdout) => resolve({ stdout }),
      ),
    );
    const report = JSON.parse(r.stdout.slice(r.stdout.indexOf("{"))) as {
      totals: { errors: number; warnings: number };
      problems: { ruleId: string; severity: string; message: string }[];
    };
    const errors = report.problems.filter((p) => p.severity === "error").map((p) => `${p.ruleId}: ${p.message}`);
    expect(errors).toEqual([]);
    expect(report.totals.errors).toBe(0);
    console.log(
      `redocly lint: 0 errors, ${report.totals.warnings} warnings (${[...new Set(report.problems.map((p) => p.ruleId))].join(", ")})`,
    );
    const doc = JSON.parse(text) as { paths: Record<string, Record<string, { operationId?: string }>> };
    const ids = Object.values(doc.paths).flatMap((item) => Object.values(item).map((op) => op.operationId));
    expect(ids.every((id) => typeof id === "string" && id.length > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("plugins and uploads.delete: the API documents both routes and the SDK's calls work", async () => {
    const doc = (await (await fetch(`${stack.edgeUrl}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    // A route missing from the document is a failure, not a skipped check.
    expect(doc.paths["/v1/plugins"]?.get, "GET /v1/plugins in /openapi.json").toBeDefined();
    expect(doc.paths["/v1/uploads/{id}"]?.delete, "DELETE /v1/uploads/{id} in /openapi.json").toBeDefined();
    const sdk = client(stack.apiKey);
    const p = await sdk.plugins();
    expect(Array.isArray(p.plugins)).toBe(true);
    expect(p.plugins.length).toBeGreaterThan(0);
    const up = await sdk.uploads.create(png);
    await sdk.uploads.delete(up.id);
    const e = (await sdk.inpaint({ image: { uploadId: up.id }, mask: [stroke] }).catch((x) => x)) as GmcnnError;
    expect(e).toBeInstanceOf(GmcnnError);
    expect(e.kind).toBe("upload-not-found");
  });
});
