/**
 * Issue #20 (reliability, round 3), the items a second pass closed: length limits on stored
 * strings (3), origins of browser tokens (4), security headers (5), replayed GitHub-style
 * deliveries (12) and the decode-work bound of progressive JPEGs (14). Each case failed on the
 * code before its fix. No timed assertion: bounds are checked by counts and refusals.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { countJpegScans, MAX_SCANS_AT_MAX_PIXELS } from "../../shared/imaging/jpeg-scans.ts";
import { STRING_LIMITS } from "../../shared/schemas/limits.ts";
import { encodeImage, inspectUpload } from "../../workers/codecs.ts";
import { uploadLimits } from "../../workers/env.ts";
import { staticPageHeaders } from "../../workers/security-headers.ts";
import { expectProblem, footprint } from "./footprint.ts";
import { call, form, newAccount, photo, testEnv } from "./helpers.ts";

const admin = { Authorization: `Bearer ${testEnv.ADMIN_TOKEN}`, "Content-Type": "application/json" };
const postJson = (path: string, body: unknown, headers: Record<string, string>) =>
  call(path, { method: "POST", headers: { "Content-Type": "application/json", ...headers }, body: JSON.stringify(body) });
const shapes = [{ type: "rect", x: 2, y: 2, width: 4, height: 4 }];

describe("item 3: every stored string has a length limit", () => {
  it("a 1,000,000-character webhook URL: 422 value-too-long, nothing stored (JSON and form)", async () => {
    const a = await newAccount(5, "long-strings");
    const before = await footprint(a.id);
    const webhook = `https://hooks.example.com/${"a".repeat(1_000_000)}`;
    const json = await postJson(
      "/v1/jobs",
      { image_url: "https://images.example.com/a.png", mask_shapes: shapes, webhook },
      a.headers,
    );
    const doc = await expectProblem(json, 422, "value-too-long");
    expect(doc.issues).toEqual([{ field: "webhook", code: "too_big", message: `at most ${STRING_LIMITS.url} characters` }]);
    // The answer names the field, not the value.
    expect(JSON.stringify(doc).length).toBeLessThan(2000);

    const f = new FormData();
    f.append("image_id", "0".repeat(64));
    f.append("mask_shapes", JSON.stringify(shapes));
    f.append("webhook", webhook);
    await expectProblem(await call("/v1/jobs", { method: "POST", body: f, headers: a.headers }), 422, "value-too-long");
    expect(await footprint(a.id)).toEqual(before);
    const n = await env.DB.prepare("SELECT COUNT(*) AS n FROM jobs WHERE length(webhook) > ?")
      .bind(STRING_LIMITS.url)
      .first<{ n: number }>();
    expect(n?.n).toBe(0);
  });

  it("a URL of exactly 2,048 characters passes the schema; 2,049 does not", async () => {
    const a = await newAccount(5, "edge-of-limit");
    const at = (n: number) => `https://hooks.example.com/${"b".repeat(n - "https://hooks.example.com/".length)}`;
    const job = (webhook: string) => postJson("/v1/jobs", { image_id: "0".repeat(64), mask_shapes: shapes, webhook }, a.headers);
    await expectProblem(await job(at(STRING_LIMITS.url + 1)), 422, "value-too-long");
    // At the limit the edge goes on to look up the (unknown) upload.
    await expectProblem(await job(at(STRING_LIMITS.url)), 404, "upload-not-found");
  });

  it("names, notes, ids, event types and Idempotency-Key are bounded too", async () => {
    const long = (n: number) => "x".repeat(n + 1);
    await expectProblem(await postJson("/v1/admin/accounts", { name: long(STRING_LIMITS.name) }, admin), 422, "value-too-long");
    const a = await newAccount(5, "bounded");
    await expectProblem(
      await postJson(`/v1/admin/accounts/${a.id}/credits`, { credits: 1, note: long(STRING_LIMITS.note) }, admin),
      422,
      "value-too-long",
    );
    await expectProblem(
      await postJson("/v1/admin/integrations", { name: "bounded-int", account_id: long(STRING_LIMITS.id) }, admin),
      422,
      "value-too-long",
    );
    const key = await call("/v1/jobs", {
      method: "POST",
      headers: { ...a.headers, "Content-Type": "application/json", "Idempotency-Key": long(STRING_LIMITS.idempotencyKey) },
      body: JSON.stringify({ image_url: "https://images.example.com/a.png", mask_shapes: shapes }),
    });
    await expectProblem(key, 422, "value-too-long");
  });

  it("/openapi.json publishes the same limits (maxLength) as the edge applies", async () => {
    const doc = (await (await call("/openapi.json")).json()) as {
      paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: unknown }> } }>>;
    };
    const find = (schema: unknown, name: string): { maxLength?: number } | undefined => {
      if (!schema || typeof schema !== "object") return undefined;
      const s = schema as Record<string, unknown>;
      const props = s.properties as Record<string, { maxLength?: number }> | undefined;
      if (props?.[name]) return props[name];
      for (const v of Object.values(s)) {
        const hit = find(v, name);
        if (hit) return hit;
      }
      return undefined;
    };
    const jobs = doc.paths["/v1/jobs"]?.post?.requestBody?.content["application/json"]?.schema;
    for (const f of ["webhook", "image_url", "mask_url"]) expect(find(jobs, f)?.maxLength, f).toBe(STRING_LIMITS.url);
    const hooks = doc.paths["/v1/hooks/{integration}"]?.post?.requestBody?.content["application/json"]?.schema;
    expect(find(hooks, "callback_url")?.maxLength).toBe(STRING_LIMITS.url);
    const accounts = doc.paths["/v1/admin/accounts"]?.post?.requestBody?.content["application/json"]?.schema;
    expect(find(accounts, "name")?.maxLength).toBe(STRING_LIMITS.name);
    const tokens = doc.paths["/v1/tokens"]?.post?.requestBody?.content["application/json"]?.schema;
    expect(find(tokens, "origin")?.maxLength).toBe(STRING_LIMITS.origin);
  });
});

describe("item 4: a token's origin is exactly scheme://host[:port]", () => {
  const mint = (origin: string) => postJson("/v1/tokens", { origin }, { Authorization: `Bearer ${testEnv.TEST_API_KEY}` });
  it.each([
    ["https://*.example.com", /wildcard/],
    ["https://a.example?x", /query/],
    ["https://a.example#x", /fragment/],
    ["https://u:p@a.example", /userinfo/],
    ["https://a.example:99999", /port/],
    ["https://a.example:-1", /port/],
    ["https://a.example:http", /port/],
    ["https://a.example/path", /path/],
    ["https://a.example/", /path/],
    ["ftp://a.example", /scheme/],
    ["a.example", /scheme:\/\/host/],
    ["https://A.Example", /https:\/\/a\.example/],
    ["https://a.example:443", /https:\/\/a\.example$/],
    ["*", /wildcard/],
  ])("%s: 422 invalid-origin saying why", async (origin, why) => {
    const doc = await expectProblem(await mint(origin), 422, "invalid-origin");
    expect(doc.detail).toMatch(/^origin: /);
    expect(doc.detail).toMatch(why);
  });

  it.each(["https://app.example.com", "http://localhost:8787", "https://[::1]:8443", "http://127.0.0.1:3000"])(
    "%s is accepted as sent",
    async (origin) => {
      const res = await mint(origin);
      expect(res.status).toBe(201);
      expect(((await res.json()) as { origin: string }).origin).toBe(origin);
    },
  );
});

describe("item 12: a signed GitHub-style delivery replayed under a new X-GitHub-Delivery id", () => {
  const inputs = (async () => {
    const img = await encodeImage(photo(16, 16), "png", 90);
    const put = await fetch(`${testEnv.RECEIVER_URL}/files/r3b-image.png`, {
      method: "PUT",
      headers: { "Content-Type": "image/png" },
      body: img as Uint8Array<ArrayBuffer>,
    });
    expect(put.status).toBe(204);
    return `${testEnv.RECEIVER_URL}/files/r3b-image.png`;
  })();
  const sign = async (secret: string, body: string) => {
    const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
    ]);
    const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(body)));
    return `sha256=${[...mac].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
  };

  it("creates no second job and charges nothing; 409 webhook-replayed names the first delivery and its job", async () => {
    const a = await newAccount(5, "gh-replay");
    const name = `r3b-gh-${crypto.randomUUID().slice(0, 8)}`;
    const created = await postJson("/v1/admin/integrations", { name, account_id: a.id, source: "github" }, admin);
    expect(created.status).toBe(201);
    const { secret } = (await created.json()) as { secret: string };
    const image = await inputs;
    const payload = (nonce?: string) =>
      JSON.stringify({
        event_type: "inpaint",
        client_payload: { image_url: image, mask_shapes: shapes, ...(nonce ? { nonce } : {}) },
      });
    const post = async (body: string, delivery: string) =>
      call(`/v1/hooks/${name}`, {
        method: "POST",
        body,
        headers: {
          "Content-Type": "application/json",
          "X-GitHub-Event": "repository_dispatch",
          "X-GitHub-Delivery": delivery,
          "X-Hub-Signature-256": await sign(secret, body),
        },
      });
    const body = payload();
    const first = await post(body, "delivery-1");
    expect(first.status).toBe(202);
    const job = (await first.json()) as { id: string };
    const jobsOf = async () =>
      (await env.DB.prepare("SELECT COUNT(*) AS n FROM jobs WHERE account_id = ?").bind(a.id).first<{ n: number }>())?.n;
    const chargesOf = async () =>
      (
        await env.DB.prepare(
          "SELECT (SELECT COUNT(*) FROM ledger WHERE account_id = ?1 AND delta < 0) + (SELECT COUNT(*) FROM holds WHERE account_id = ?1) AS n",
        )
          .bind(a.id)
          .first<{ n: number }>()
      )?.n;
    expect(await jobsOf()).toBe(1);

    for (const delivery of ["delivery-2", crypto.randomUUID(), "x"]) {
      const doc = await expectProblem(await post(body, delivery), 409, "webhook-replayed");
      expect(doc).toMatchObject({ webhook_id: delivery, first_webhook_id: "delivery-1", job_id: job.id });
    }
    // The same delivery id again is refused as before.
    await expectProblem(await post(body, "delivery-1"), 409, "webhook-replayed");
    expect(await jobsOf()).toBe(1);
    // One job's hold or its one debit, never a second.
    expect(await chargesOf()).toBeLessThanOrEqual(1);

    // A sender that means the same request again changes the signed body (client_payload.nonce).
    const again = await post(payload("second"), "delivery-3");
    expect(again.status).toBe(202);
    expect(await jobsOf()).toBe(2);
  });

  it("a refused event frees its digest, so the sender's fixed retry can succeed", async () => {
    const a = await newAccount(0, "gh-broke");
    const name = `r3b-gh-${crypto.randomUUID().slice(0, 8)}`;
    const created = await postJson("/v1/admin/integrations", { name, account_id: a.id, source: "github" }, admin);
    const { secret } = (await created.json()) as { secret: string };
    const body = JSON.stringify({ event_type: "inpaint", client_payload: { image_url: await inputs, mask_shapes: shapes } });
    const post = async (delivery: string) =>
      call(`/v1/hooks/${name}`, {
        method: "POST",
        body,
        headers: {
          "Content-Type": "application/json",
          "X-GitHub-Delivery": delivery,
          "X-Hub-Signature-256": await sign(secret, body),
        },
      });
    await expectProblem(await post("d-1"), 402, "payment-required");
    // Not accepted: no digest kept, so the same event is still 402 (not a replay) until credits arrive.
    await expectProblem(await post("d-2"), 402, "payment-required");
    const rows = await env.DB.prepare("SELECT COUNT(*) AS n FROM hook_digests WHERE integration = ?")
      .bind(name)
      .first<{ n: number }>();
    expect(rows?.n).toBe(0);
  });
});

describe("item 14: a JPEG's decode work is bounded before it is decoded", () => {
  /** SOI, a progressive SOF2 of w x h (3 components), `scans` empty AC refinement scans, EOI. */
  function manyScans(w: number, h: number, scans: number): Uint8Array {
    const sof = [0xff, 0xc2, 0, 17, 8, h >> 8, h & 255, w >> 8, w & 255, 3, 1, 0x11, 0, 2, 0x11, 1, 3, 0x11, 1];
    // SOS: 1 component, Ss=1, Se=63, Ah=1, Al=0; then two bytes of entropy data with a stuffed FF00.
    const sos = [0xff, 0xda, 0, 8, 1, 1, 0, 1, 63, 0x10, 0xff, 0x00];
    const out = new Uint8Array(2 + sof.length + scans * sos.length + 2);
    out.set([0xff, 0xd8], 0);
    out.set(sof, 2);
    for (let i = 0; i < scans; i++) out.set(sos, 2 + sof.length + i * sos.length);
    out.set([0xff, 0xd9], out.length - 2);
    return out;
  }

  it("counts scans from the segment structure, skipping stuffed bytes and restart markers", async () => {
    expect(countJpegScans(manyScans(2000, 2000, 2000))).toEqual({ scans: 2000, progressive: true });
    expect(countJpegScans(manyScans(2000, 2000, 2000), 10).scans).toBe(10);
    const baseline = await encodeImage(photo(64, 48), "jpeg", 90);
    expect(countJpegScans(baseline)).toEqual({ scans: 1, progressive: false });
    // FF D0..D7 (restart markers) inside entropy data do not end the scan.
    const rst = new Uint8Array([
      0xff, 0xd8, 0xff, 0xda, 0, 8, 1, 1, 0, 0, 63, 0, 1, 0xff, 0xd3, 2, 0xff, 0, 0xff, 0xda, 0, 8, 1, 1, 0, 0, 63, 0, 0xff, 0xd9,
    ]);
    expect(countJpegScans(rst).scans).toBe(2);
  });

  it("the probe's 2000x2000 JPEG with 2,000 empty refinement scans: 422 image-too-complex before decoding, nothing stored", async () => {
    const a = await newAccount(5, "scans");
    const before = await footprint(a.id);
    const bytes = manyScans(2000, 2000, 2000);
    expect(bytes.length).toBeLessThan(30_000);
    const up = new FormData();
    up.append("file", new Blob([bytes as Uint8Array<ArrayBuffer>]), "scans.jpg");
    const doc = await expectProblem(
      await call("/v1/uploads", { method: "POST", body: up, headers: a.headers }),
      422,
      "image-too-complex",
    );
    const maxWork = MAX_SCANS_AT_MAX_PIXELS * 8e6;
    expect(doc).toMatchObject({ field: "image", pixels: 4e6, max_work: maxWork });
    // Counting stopped just past the bound: the walk did not read all 2,000 scans.
    expect(doc.scans).toBe(Math.floor(maxWork / 4e6) + 1);
    const inpaint = await call("/v1/inpaint", {
      method: "POST",
      body: form(bytes, undefined, { mask_shapes: JSON.stringify(shapes) }),
      headers: { ...a.headers, "Cache-Control": "no-store" },
    });
    await expectProblem(inpaint, 422, "image-too-complex");
    expect(await footprint(a.id)).toEqual(before);
  });

  it("under the bound the header check passes (the count is what decides, not the scan count alone)", () => {
    const limits = uploadLimits(testEnv);
    // 24 scans of the largest image, and 2,000 scans of a 64x64 one, are both within the bound.
    expect(() => inspectUpload(manyScans(4000, 2000, MAX_SCANS_AT_MAX_PIXELS), "image", limits, ["jpeg"])).not.toThrow();
    expect(() => inspectUpload(manyScans(64, 64, 2000), "image", limits, ["jpeg"])).not.toThrow();
    expect(() => inspectUpload(manyScans(4000, 2000, MAX_SCANS_AT_MAX_PIXELS + 1), "image", limits, ["jpeg"])).toThrow(
      expect.objectContaining({ kind: "image-too-complex" }),
    );
  });
});

describe("item 5: security headers (Hono's secure-headers) on pages, documents and problems", () => {
  const csp = (res: Response) =>
    Object.fromEntries(
      (res.headers.get("content-security-policy") ?? "")
        .split(";")
        .map((d) => d.trim().split(/\s+/))
        .filter((d) => d[0])
        .map(([k, ...v]) => [k, v]),
    ) as Record<string, string[]>;
  const common = (res: Response, what: string) => {
    expect(res.headers.get("x-content-type-options"), what).toBe("nosniff");
    expect(res.headers.get("x-frame-options"), what).toBe("DENY");
    expect(res.headers.get("referrer-policy"), what).toBe("no-referrer");
    expect(csp(res)["frame-ancestors"], what).toEqual(["'none'"]);
  };

  it("/docs: a CSP whose nonce is the one inline script's; no framing; nosniff; no referrer", async () => {
    const res = await call("/docs");
    expect(res.status).toBe(200);
    common(res, "/docs");
    const page = await res.text();
    const policy = csp(res);
    const nonce = policy["script-src"]?.find((s) => s.startsWith("'nonce-"))?.slice(7, -1);
    expect(nonce).toMatch(/^[A-Za-z0-9+/=_-]{16,}$/);
    // Every inline <script> carries it; every other one loads from this origin.
    const scripts = [...page.matchAll(/<script([^>]*)>/g)].map((m) => m[1] ?? "");
    expect(scripts.length).toBeGreaterThan(0);
    for (const s of scripts) expect(s.includes(`nonce="${nonce}"`) || /src="\/assets\//.test(s), s).toBe(true);
    expect(policy["script-src"]).not.toContain("'unsafe-inline'");
    expect(policy["script-src"]).not.toContain("'unsafe-eval'");
    expect(policy["object-src"]).toEqual(["'none'"]);
    // A new nonce per request.
    const again = csp(await call("/docs"))["script-src"]?.find((s) => s.startsWith("'nonce-"));
    expect(again).not.toBe(`'nonce-${nonce}'`);
  });

  it("/openapi.json, /healthz and problem responses (404, 401, 422) are nosniff and unframeable", async () => {
    const a = await newAccount(1, "headers");
    const cases: [string, Response][] = [
      ["/openapi.json", await call("/openapi.json")],
      ["/healthz", await call("/healthz")],
      ["404", await call("/nothing-here")],
      ["401", await call("/v1/usage")],
      [
        "422",
        await postJson("/v1/tokens", { origin: "https://*.example.com" }, { Authorization: `Bearer ${testEnv.TEST_API_KEY}` }),
      ],
      ["200 API", await call("/v1/usage", { headers: a.headers })],
    ];
    for (const [what, res] of cases) common(res, what);
    expect(cases[2]?.[1].headers.get("content-type")).toBe("application/problem+json");
    // Result URLs may be loaded by other origins' pages: no Cross-Origin-Resource-Policy.
    for (const [what, res] of cases) expect(res.headers.get("cross-origin-resource-policy"), what).toBeNull();
  });

  it("the static pages get the same policy from the same middleware (web/build.ts writes it into _headers)", async () => {
    const h = await staticPageHeaders();
    expect(h["x-content-type-options"]).toBe("nosniff");
    expect(h["x-frame-options"]).toBe("DENY");
    expect(h["content-security-policy"]).toMatch(/frame-ancestors 'none'/);
    expect(h["content-security-policy"]).toMatch(/script-src 'self' 'wasm-unsafe-eval'(;|$)/);
    // _headers' own rules set cross-origin isolation for the demo page: not twice.
    expect(h["cross-origin-opener-policy"]).toBeUndefined();
    expect(h["cross-origin-embedder-policy"]).toBeUndefined();
  });
});
