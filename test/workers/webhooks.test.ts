/**
 * Webhook plumbing inside workerd: Standard Webhooks signatures checked against the reference
 * implementation (the `standardwebhooks` package), the SSRF guard (URL rules, DoH answers from
 * the receiver's stub, redirects not followed), and per-owner signing secrets in D1 with their
 * HTTP routes.
 */
import { exports } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { newMessageId, newSecret, signatureHeader, verifyWebhook, webhookHeaders } from "../../shared/webhooks/signature.ts";
import { sha256Hex } from "../../workers/cache.ts";
import { currentSecret, rotateSecret, signingSecrets } from "../../workers/webhooks/secrets.ts";
import { assertSafeResolved, assertSafeUrl, isPrivateAddress, safeFetch } from "../../workers/webhooks/ssrf.ts";
import { auth, testEnv } from "./helpers.ts";

const nowS = () => Math.floor(Date.now() / 1000);
const body = JSON.stringify({ id: "job_123", status: "succeeded", output: "https://example.com/r.png" });

/** Expects `p` to reject with the given Problem kind; returns its detail. */
async function problemOf(p: Promise<unknown> | (() => unknown), kind: string): Promise<string> {
  let err: unknown;
  try {
    await (typeof p === "function" ? p() : p);
  } catch (e) {
    err = e;
  }
  expect(err, "expected a Problem").toMatchObject({ name: "Problem", kind });
  return (err as Error).message;
}

describe("signatures (Standard Webhooks)", () => {
  it("issues whsec_ + 24 random bytes and msg_ ids", () => {
    const s = newSecret();
    expect(s).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    expect(atob(s.slice(6)).length).toBe(24);
    expect(newSecret()).not.toBe(s);
    expect(newMessageId()).toMatch(/^msg_[A-Za-z0-9_-]{22}$/);
    expect(newMessageId()).not.toBe(newMessageId());
  });

  it("produces headers the reference library verifies", async () => {
    const secret = newSecret();
    const id = newMessageId();
    const headers = await webhookHeaders([secret], id, nowS(), body);
    expect(headers["content-type"]).toBe("application/json");
    expect(headers["webhook-id"]).toBe(id);
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
    expect(() => new Webhook(newSecret()).verify(body, headers)).toThrow(/No matching signature/);
    expect(() => new Webhook(secret).verify(`${body} `, headers)).toThrow(/No matching signature/);
  });

  it("matches the reference signature byte for byte", async () => {
    const secret = newSecret();
    const ts = 1_700_000_000;
    expect(await signatureHeader([secret], "msg_x", ts, body)).toBe(new Webhook(secret).sign("msg_x", new Date(ts * 1000), body));
  });

  it("signs with every secret during a rotation: each one verifies", async () => {
    const [oldS, newS] = [newSecret(), newSecret()];
    const headers = await webhookHeaders([newS, oldS], newMessageId(), nowS(), body);
    expect(headers["webhook-signature"].split(" ")).toHaveLength(2);
    expect(new Webhook(oldS).verify(body, headers)).toBeTruthy();
    expect(new Webhook(newS).verify(body, headers)).toBeTruthy();
    expect(() => new Webhook(newSecret()).verify(body, headers)).toThrow();
  });

  describe("verifyWebhook", () => {
    const secret = newSecret();
    const wh = new Webhook(secret);
    const signed = (id: string, atS: number, payload = body) =>
      new Headers({
        "webhook-id": id,
        "webhook-timestamp": String(atS),
        "webhook-signature": wh.sign(id, new Date(atS * 1000), payload),
      });

    it("accepts what the reference library signs", async () => {
      const t = nowS();
      expect(await verifyWebhook(secret, signed("msg_ok", t), body)).toEqual({ id: "msg_ok", timestampS: t });
    });

    it("accepts any matching v1 entry among several, ignoring other versions", async () => {
      const t = nowS();
      const h = signed("msg_multi", t);
      const good = h.get("webhook-signature")!;
      const other = await signatureHeader([newSecret()], "msg_multi", t, body);
      h.set("webhook-signature", `v1a,${good.slice(3)} ${other} v2,garbage v1,!!notbase64 ${good}`);
      expect((await verifyWebhook(secret, h, body)).id).toBe("msg_multi");
      // The same list without the good entry is refused (v1a with a valid MAC does not count).
      h.set("webhook-signature", `v1a,${good.slice(3)} ${other} v2,garbage`);
      await problemOf(verifyWebhook(secret, h, body), "invalid-signature");
    });

    it("refuses a tampered body", async () => {
      const detail = await problemOf(
        verifyWebhook(secret, signed("msg_t", nowS()), body.replace("123", "124")),
        "invalid-signature",
      );
      expect(detail).toMatch(/no v1 signature/);
    });

    it("refuses the wrong secret", async () => {
      await problemOf(verifyWebhook(newSecret(), signed("msg_w", nowS()), body), "invalid-signature");
    });

    it("refuses a timestamp older than 5 minutes and one too far in the future", async () => {
      const t = nowS();
      expect(await problemOf(verifyWebhook(secret, signed("msg_old", t - 301), body), "invalid-signature")).toMatch(/old/);
      expect(await problemOf(verifyWebhook(secret, signed("msg_new", t + 301), body), "invalid-signature")).toMatch(/future/);
      // Inside the tolerance both ways, and with an explicit clock and tolerance.
      await verifyWebhook(secret, signed("msg_edge", t - 290), body);
      await verifyWebhook(secret, signed("msg_edge", t + 290), body);
      await verifyWebhook(secret, signed("msg_clock", 1000), body, { nowS: 1010, toleranceS: 10 });
      await problemOf(
        verifyWebhook(secret, signed("msg_clock", 1000), body, { nowS: 1011, toleranceS: 10 }),
        "invalid-signature",
      );
    });

    it("refuses missing headers and a non-numeric timestamp", async () => {
      for (const name of ["webhook-id", "webhook-timestamp", "webhook-signature"]) {
        const h = signed("msg_m", nowS());
        h.delete(name);
        expect(await problemOf(verifyWebhook(secret, h, body), "invalid-signature")).toContain(name);
      }
      const h = signed("msg_n", nowS());
      h.set("webhook-timestamp", "soon");
      expect(await problemOf(verifyWebhook(secret, h, body), "invalid-signature")).toMatch(/not a number/);
    });
  });
});

describe("isPrivateAddress", () => {
  it.each([
    ["10.0.0.5", true],
    ["127.0.0.1", true],
    ["169.254.169.254", true],
    ["172.16.0.1", true],
    ["172.32.0.1", false],
    ["100.64.0.1", true],
    ["100.128.0.1", false],
    ["198.19.255.255", true],
    ["198.20.0.1", false],
    ["192.0.0.8", true],
    ["192.0.1.1", false],
    ["224.0.0.1", true],
    ["255.255.255.255", true],
    ["8.8.8.8", false],
    ["93.184.216.34", false],
    ["::", true],
    ["::1", true],
    ["fd00::1", true],
    ["fc00::1", true],
    ["fe80::1", true],
    ["ff02::1", true],
    ["::ffff:7f00:1", true],
    ["::ffff:127.0.0.1", true],
    ["::ffff:8.8.8.8", false],
    ["64:ff9b::a00:1", true],
    ["64:ff9b::808:808", false],
    ["[2606:4700:4700::1111]", false],
    ["2001:4860:4860::8888", false],
    ["not-an-ip", true],
    ["1.2.3.256", true],
  ])("%s → %s", (ip, expected) => {
    expect(isPrivateAddress(ip)).toBe(expected);
  });
});

describe("assertSafeUrl", () => {
  const accepted = [
    "https://example.com/hook",
    "https://sub.example.co.uk:8443/p?q=1",
    "https://93.184.216.34/",
    "https://172.32.0.1/",
    "https://[2606:4700:4700::1111]/",
  ];
  it.each(accepted)("accepts %s", (raw) => {
    expect(assertSafeUrl(raw, { allowLocal: false }).href).toBe(new URL(raw).href);
  });

  const refused: [string, RegExp][] = [
    ["http://2130706433/", /https/],
    ["https://2130706433/", /private/],
    ["https://0x7f.0.0.1/", /private/],
    ["https://0x7f.1/", /private/],
    ["https://017700000001/", /private/],
    ["https://[::ffff:127.0.0.1]/", /private/],
    ["https://[::ffff:a00:1]/", /private/],
    ["https://[64:ff9b::127.0.0.1]/", /private/],
    ["https://169.254.169.254/latest/meta-data", /private/],
    ["https://user:pw@example.com/", /credentials/],
    ["https://user@example.com/", /credentials/],
    ["ftp://example.com", /scheme/],
    ["file:///etc/passwd", /scheme/],
    ["https://10.1.2.3", /private/],
    ["https://0.0.0.0/", /private/],
    ["https://[::]/", /private/],
    ["https://[::1]/", /private/],
    ["https://[fd00::1]/", /private/],
    ["https://[fe80::1]/", /private/],
    ["https://metadata.google.internal/", /internal/],
    ["https://localhost/", /localhost/],
    ["https://localhost./", /localhost/],
    ["https://app.localhost/", /localhost/],
    ["https://printer.local/", /local/],
    ["https://intranet/", /single-label/],
    ["http://example.com/", /https/],
    ["not a url", /absolute/],
  ];
  it.each(refused)("refuses %s", async (raw, why) => {
    expect(await problemOf(() => assertSafeUrl(raw, { allowLocal: false }), "unsafe-url")).toMatch(why);
  });

  it("reports the normalised host (url_host)", () => {
    try {
      assertSafeUrl("https://2130706433/", { allowLocal: false });
      expect.unreachable();
    } catch (e) {
      expect(e).toMatchObject({ status: 422, extensions: { url_host: "127.0.0.1" } });
    }
  });

  it("with allowLocal admits http, but only to loopback", async () => {
    for (const raw of [
      "http://127.0.0.1:1234/x",
      "http://127.1.2.3/",
      "http://localhost:8787/",
      "http://[::1]:9/",
      "https://localhost/",
    ])
      expect(assertSafeUrl(raw, { allowLocal: true }).href).toBe(new URL(raw).href);
    for (const raw of [
      "http://10.0.0.1/",
      "https://10.0.0.1/",
      "http://example.com/",
      "https://169.254.169.254/",
      "http://u:p@127.0.0.1/",
    ])
      await problemOf(() => assertSafeUrl(raw, { allowLocal: true }), "unsafe-url");
  });
});

describe("assertSafeResolved (DNS over HTTPS)", () => {
  const doh = { SSRF_DOH_URL: `${testEnv.RECEIVER_URL}/dns-query` };
  const resolved = (host: string, env: { SSRF_DOH_URL?: string } = doh) =>
    assertSafeResolved(new URL(`https://${host}/x`), env, false);

  it("accepts a name with public addresses only", async () => {
    await resolved("public.example");
    await resolved("PUBLIC.example.");
  });

  it.each([
    ["evil.example", /10\.0\.0\.5/],
    ["rebind.example", /127\.0\.0\.1/],
    ["v6evil.example", /fd00::1/],
    ["unknown.example", /does not resolve/],
  ])("refuses %s", async (host, why) => {
    expect(await problemOf(resolved(host), "unsafe-url")).toMatch(why);
  });

  it("fails closed when the DoH server cannot be reached, and skips IP literals", async () => {
    const dead = { SSRF_DOH_URL: `${testEnv.DEAD_GPU_URL}/dns-query` };
    expect(await problemOf(resolved("public.example", dead), "unsafe-url")).toMatch(/could not resolve/);
    await resolved("93.184.216.34", dead);
  });

  it("makes no lookup without SSRF_DOH_URL", async () => {
    await resolved("evil.example", {});
  });
});

describe("safeFetch", () => {
  const local = { SSRF_DOH_URL: `${testEnv.RECEIVER_URL}/dns-query` };

  it("returns a redirect instead of following it", async () => {
    const to = `${testEnv.RECEIVER_URL}/files/none`;
    const res = await safeFetch(
      `${testEnv.RECEIVER_URL}/redirect?to=${encodeURIComponent(to)}`,
      { timeoutMs: 5000 },
      local,
      true,
    );
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe(to);
  });

  it("refuses before connecting when the URL is unsafe", async () => {
    await problemOf(safeFetch(`${testEnv.RECEIVER_URL}/files/none`, { timeoutMs: 5000 }, local, false), "unsafe-url");
    await problemOf(safeFetch("https://evil.example/", { timeoutMs: 5000 }, local, false), "unsafe-url");
  });

  it("delivers a signed webhook the receiver can verify, and times out on a slow receiver", async () => {
    const secret = newSecret();
    const hooks = `${testEnv.RECEIVER_URL}/hooks/safefetch`;
    const headers = await webhookHeaders([secret], newMessageId(), nowS(), body);
    const res = await safeFetch(hooks, { method: "POST", headers, body, timeoutMs: 5000 }, local, true);
    expect(res.status).toBe(204);
    const [got] = (await (await fetch(hooks)).json()) as { headers: Record<string, string>; body: string; status: number }[];
    expect(got.status).toBe(204);
    expect(new Webhook(secret).verify(got.body, got.headers)).toEqual(JSON.parse(body));

    // The slow receiver answers 5 s after a request arrives. safeFetch gives up at its 300 ms
    // timeout: when it returns, the receiver has the request and has not answered it yet.
    const slow = `${testEnv.RECEIVER_URL}/hooks/slow`;
    await fetch(`${testEnv.RECEIVER_URL}/behaviour/slow`, { method: "PUT", body: JSON.stringify({ delayMs: 5000 }) });
    expect(await problemOf(safeFetch(slow, { method: "POST", body, timeoutMs: 300 }, local, true), "fetch-failed")).toMatch(
      /300 ms/,
    );
    const seen = (await (await fetch(slow)).json()) as { answered: boolean }[];
    expect(seen.map((r) => r.answered)).toEqual([false]);
  });
});

describe("signing secrets (D1)", () => {
  const db = testEnv.DB;
  const owner = () => `acct_test_${crypto.randomUUID()}`;
  const currentRows = (o: string) =>
    db.prepare("SELECT COUNT(*) AS n FROM webhook_secrets WHERE owner = ? AND retires_at IS NULL").bind(o).first<number>("n");

  it("creates one current secret and returns it again", async () => {
    const o = owner();
    const s = await currentSecret(db, o);
    expect(s).toMatch(/^whsec_/);
    expect(await currentSecret(db, o)).toBe(s);
    expect(await currentSecret(db, owner())).not.toBe(s);
    expect(await currentRows(o)).toBe(1);
  });

  it("ends with one secret after 10 concurrent first calls", async () => {
    const o = owner();
    const got = await Promise.all(Array.from({ length: 10 }, () => currentSecret(db, o)));
    expect(new Set(got).size).toBe(1);
    expect(await currentRows(o)).toBe(1);
  });

  it("rotates: both sign during the overlap, then only the new one", async () => {
    const o = owner();
    const t = 1_800_000_000_000;
    const first = await currentSecret(db, o, t);
    const rotated = await rotateSecret(db, o, 60_000, t + 1000);
    expect(rotated.key).not.toBe(first);
    expect(rotated.previous_retires_at).toBe(new Date(t + 61_000).toISOString());
    expect(await currentSecret(db, o, t + 2000)).toBe(rotated.key);
    expect(await signingSecrets(db, o, t + 2000)).toEqual([rotated.key, first]);
    expect(await signingSecrets(db, o, t + 60_999)).toEqual([rotated.key, first]);
    expect(await signingSecrets(db, o, t + 61_000)).toEqual([rotated.key]);
    expect(await currentRows(o)).toBe(1);
  });

  it("rotating with no secret yet reports no previous one", async () => {
    const o = owner();
    const r = await rotateSecret(db, o, 60_000);
    expect(r.previous_retires_at).toBeNull();
    expect(await signingSecrets(db, o)).toEqual([r.key]);
  });

  it("serves and rotates the caller's secret over HTTP", async () => {
    const call = (path: string, init: RequestInit = {}) => exports.default.fetch(new Request(`https://edge${path}`, init));
    const get = async () => {
      const res = await call("/v1/webhooks/default/secret", { headers: auth() });
      expect(res.status).toBe(200);
      return ((await res.json()) as { key: string }).key;
    };
    const before = await get();
    expect(before).toMatch(/^whsec_/);
    expect(await get()).toBe(before);
    // A dev key's owner is its key id.
    const devOwner = `dev:${(await sha256Hex(testEnv.TEST_API_KEY)).slice(0, 16)}`;
    expect(await currentSecret(db, devOwner)).toBe(before);

    const t0 = Date.now();
    const res = await call("/v1/webhooks/default/secret/rotate", { method: "POST", headers: auth() });
    expect(res.status).toBe(200);
    const rotated = (await res.json()) as { key: string; previous_retires_at: string };
    expect(rotated.key).not.toBe(before);
    const t1 = Date.now();
    const retires = Date.parse(rotated.previous_retires_at);
    // 24 h after the rotation on the rotation's own clock: the new secret's created_at.
    const created = await db
      .prepare("SELECT created_at FROM webhook_secrets WHERE owner = ? AND secret = ?")
      .bind(devOwner, rotated.key)
      .first<number>("created_at");
    expect(retires - (created ?? 0)).toBe(86_400_000);
    expect(created).toBeGreaterThanOrEqual(t0);
    expect(created).toBeLessThanOrEqual(t1);
    expect(await get()).toBe(rotated.key);
    expect(await signingSecrets(db, devOwner)).toEqual([rotated.key, before]);
    expect(await signingSecrets(db, devOwner, retires + 1)).toEqual([rotated.key]);

    // Another key has its own secret.
    const other = await call("/v1/webhooks/default/secret", { headers: auth("another-key") });
    expect(((await other.json()) as { key: string }).key).not.toBe(rotated.key);
  });

  it("requires an API key", async () => {
    for (const [path, method] of [
      ["/v1/webhooks/default/secret", "GET"],
      ["/v1/webhooks/default/secret/rotate", "POST"],
    ]) {
      const res = await exports.default.fetch(new Request(`https://edge${path}`, { method }));
      expect(res.status).toBe(401);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
      expect(((await res.json()) as { type: string }).type).toBe("https://gmcnn-edge.dev/problems/unauthorized");
    }
  });
});
