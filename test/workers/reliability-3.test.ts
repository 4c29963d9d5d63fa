/**
 * Issue #20 (reliability, round 3): the probe's requests that got through, each refused or
 * answered as it must be. No timed assertion: bounds are checked by what was counted and refused.
 */
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { newImage } from "../../shared/imaging/types.ts";
import { newSecret, webhookHeaders } from "../../shared/webhooks/signature.ts";
import { createApp } from "../../workers/app.ts";
import { encodeImage } from "../../workers/codecs.ts";
import { insertJob, newJobId } from "../../workers/jobs/store.ts";
import { brokenInputsUrl } from "./broken-inputs.ts";
import { expectProblem, footprint } from "./footprint.ts";
import { fuzzParams } from "./fuzz-params.ts";
import { boxMask, call, newAccount, photo, testEnv } from "./helpers.ts";

const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

describe("item 1: every mask source is bounded by its work", () => {
  const big = encodeImage(newImage(2000, 2000), "png", 90);
  // The probe's 39 KiB document: 1,000 RLE objects of 2000x2000, here all hole (4 G pixel writes).
  const rles = enc(Array.from({ length: 1000 }, () => ({ size: [2000, 2000], counts: [0, 4_000_000] })));

  it("1,000 full-size COCO RLE objects: 422 mask-too-complex before drawing, uncharged; the job is refused at submission", async () => {
    const a = await newAccount(20, "probe");
    const before = await footprint(a.id);
    const f = new FormData();
    f.append("image", new Blob([(await big) as Uint8Array<ArrayBuffer>]), "image.png");
    f.append("mask", new Blob([rles as Uint8Array<ArrayBuffer>]), "mask.json");
    const res = await call("/v1/inpaint", { method: "POST", body: f, headers: { ...a.headers, "Cache-Control": "no-store" } });
    const doc = await expectProblem(res, 422, "mask-too-complex");
    expect(doc).toMatchObject({ source: "coco-rle", objects: 1000, pixels: 4e9, max_work: 32e6 });
    expect(await footprint(a.id)).toEqual(before);

    const up = new FormData();
    up.append("file", new Blob([(await big) as Uint8Array<ArrayBuffer>]), "big.png");
    const stored = await call("/v1/uploads", { method: "POST", body: up, headers: a.headers });
    expect(stored.status).toBe(201);
    const { id } = (await stored.json()) as { id: string };
    const jf = new FormData();
    jf.append("image_id", id);
    jf.append("mask", new Blob([rles as Uint8Array<ArrayBuffer>]), "mask.json");
    const job = await call("/v1/jobs", { method: "POST", body: jf, headers: a.headers });
    await expectProblem(job, 422, "mask-too-complex");
    const after = await footprint(a.id);
    expect({ ...after, uploads: before.uploads }).toEqual(before);
  });
});

describe("item 11: a remote input whose body breaks while it is read", () => {
  const broken = brokenInputsUrl();
  const good = (async () => {
    const img = await encodeImage(photo(16, 16), "png", 90);
    const mask = await encodeImage(boxMask(16, 16, { x: 4, y: 4, width: 6, height: 6 }), "png", 90);
    for (const [name, bytes] of [
      ["r3-image.png", img],
      ["r3-mask.png", mask],
    ] as const) {
      const put = await fetch(`${testEnv.RECEIVER_URL}/files/${name}`, {
        method: "PUT",
        headers: { "Content-Type": "image/png" },
        body: bytes as Uint8Array<ArrayBuffer>,
      });
      expect(put.status).toBe(204);
    }
    return { image: `${testEnv.RECEIVER_URL}/files/r3-image.png`, mask: `${testEnv.RECEIVER_URL}/files/r3-mask.png` };
  })();

  for (const kind of ["short-length", "closed-mid-body", "bad-chunked"])
    it(`${kind}, as image_url and as mask_url: 422 fetch-failed naming the field, nothing charged or stored`, async () => {
      const urls = await good;
      const a = await newAccount(5, "inputs");
      const before = await footprint(a.id);
      const bad = `${broken}/${kind}`;
      for (const [field, body] of [
        ["image_url", { image_url: bad, mask_url: urls.mask }],
        ["mask_url", { image_url: urls.image, mask_url: bad }],
      ] as const) {
        const res = await call("/v1/jobs", {
          method: "POST",
          headers: { ...a.headers, "Content-Type": "application/json" },
          body: JSON.stringify(body),
        });
        const doc = await expectProblem(res, 422, "fetch-failed");
        expect(doc.field).toBe(field);
        expect(doc.detail).toMatch(new RegExp(`^${field}: the body broke after \\d+ bytes: .+`));
        expect(await footprint(a.id)).toEqual(before);
      }
    });

  it("the good inputs themselves make a job (the servers above are the only difference)", async () => {
    const urls = await good;
    const a = await newAccount(5, "inputs");
    const res = await call("/v1/jobs", {
      method: "POST",
      headers: { ...a.headers, "Content-Type": "application/json" },
      body: JSON.stringify({ image_url: urls.image, mask_url: urls.mask }),
    });
    expect(res.status).toBe(202);
  });
});

describe("item 13: GET /v1/jobs pages in a total order", () => {
  const input = {
    image: { key: "jobs/x/image", format: "png" as const, width: 8, height: 8 },
    mask: { shapes: { shapes: [] } },
    options: {} as never,
    base: "https://edge.test",
  };

  /** Jobs of `owner` created at the given milliseconds, as POST /v1/jobs stores them; their ids. */
  async function jobsAt(owner: string, times: number[]): Promise<string[]> {
    const ids: string[] = [];
    for (const t of times) {
      const id = newJobId();
      ids.push(id);
      await insertJob(
        env.DB,
        {
          id,
          owner,
          accountId: owner,
          holdId: null,
          price: 0,
          input,
          webhook: null,
          webhookEvents: ["completed"],
          source: "api",
          requestId: null,
          expiresAt: t + 86_400_000,
        },
        t,
      );
    }
    return ids;
  }

  /** Every page of GET /v1/jobs at `limit`: the ids in the order listed. */
  async function walk(headers: Record<string, string>, limit: number): Promise<string[]> {
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 200; pages++) {
      const res = await call(`/v1/jobs?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`, { headers });
      expect(res.status).toBe(200);
      const page = (await res.json()) as { jobs: { id: string }[]; next_cursor: string | null };
      expect(page.jobs.length).toBeLessThanOrEqual(limit);
      seen.push(...page.jobs.map((j) => j.id));
      cursor = page.next_cursor;
      if (!cursor) return seen;
    }
    throw new Error("more than 200 pages");
  }

  it("12 jobs created in one millisecond, walked with limit=1: each listed exactly once", async () => {
    const a = await newAccount(1, "lister");
    const ids = await jobsAt(a.id, Array(12).fill(1_750_000_000_000));
    const seen = await walk(a.headers, 1);
    expect(seen).toHaveLength(12);
    expect(new Set(seen)).toEqual(new Set(ids));
  });

  it("property: N jobs over a few milliseconds, every limit: each exactly once, newest first", async () => {
    const a = await newAccount(1, "lister");
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 14 }),
        fc.integer({ min: 1, max: 15 }),
        async (offsets, limit) => {
          await env.DB.prepare("DELETE FROM jobs WHERE owner = ?").bind(a.id).run();
          const times = offsets.map((o) => 1_750_000_000_000 + o);
          const ids = await jobsAt(a.id, times);
          const seen = await walk(a.headers, limit);
          expect([...seen].sort()).toEqual([...ids].sort());
          // Newest first: created_at never increases along the walk.
          const at = new Map(ids.map((id, i) => [id, times[i]]));
          for (let i = 1; i < seen.length; i++)
            expect(at.get(seen[i]) as number).toBeLessThanOrEqual(at.get(seen[i - 1]) as number);
        },
      ),
      fuzzParams(0.1),
    );
  });

  it("a cursor that is not a next_cursor value is 400; the old bare created_at still pages", async () => {
    const a = await newAccount(1, "lister");
    await jobsAt(a.id, [1_750_000_000_001, 1_750_000_000_002]);
    for (const bad of ["abc", "1.2.3", "1750000000001.", "-1", "1.job_x;drop"])
      expect((await call(`/v1/jobs?cursor=${encodeURIComponent(bad)}`, { headers: a.headers })).status, bad).toBe(400);
    const old = (await (await call("/v1/jobs?cursor=1750000000002", { headers: a.headers })).json()) as { jobs: unknown[] };
    expect(old.jobs).toHaveLength(1);
  });
});

describe("item 9: an unknown integration answers exactly as a bad signature", () => {
  const adminPost = (path: string, body: unknown) =>
    call(path, {
      method: "POST",
      headers: { Authorization: `Bearer ${testEnv.ADMIN_TOKEN}`, "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  /** The problem document, less what names the request (its path and id). */
  async function answer(res: Response) {
    const { instance: _i, request_id: _r, ...doc } = (await res.json()) as Record<string, unknown>;
    return { status: res.status, type: res.headers.get("content-type"), doc };
  }

  it("for every source's headers, signed with a wrong secret, stale, or none at all", async () => {
    const a = await newAccount(1, "hooks");
    const names: Record<string, string> = {};
    for (const source of ["standard-webhooks", "github"]) {
      const name = `r3-${source}-${crypto.randomUUID().slice(0, 8)}`;
      const created = await adminPost("/v1/admin/integrations", { name, account_id: a.id, source });
      expect(created.status).toBe(201);
      names[source] = name;
    }
    const body = JSON.stringify({ type: "inpaint.requested", data: { image_url: "https://example.com/a.png" } });
    const now = Math.floor(Date.now() / 1000);
    const headerSets: Record<string, Record<string, string>> = {
      none: {},
      "standard, wrong secret": await webhookHeaders([newSecret()], "msg_r3", now, body),
      "standard, stale": await webhookHeaders([newSecret()], "msg_r3", now - 3600, body),
      "github, wrong secret": { "X-Hub-Signature-256": `sha256=${"0".repeat(64)}`, "X-GitHub-Delivery": "d-r3" },
    };
    for (const [what, headers] of Object.entries(headerSets)) {
      const post = (name: string) =>
        call(`/v1/hooks/${name}`, { method: "POST", body, headers: { "Content-Type": "application/json", ...headers } });
      const unknown = await answer(await post(`r3-nobody-${crypto.randomUUID().slice(0, 8)}`));
      expect(unknown.status, what).toBe(401);
      expect(unknown.doc.type).toBe("https://gmcnn-edge.dev/problems/invalid-signature");
      for (const name of Object.values(names)) expect(await answer(await post(name)), `${what} to ${name}`).toEqual(unknown);
    }
  });
});

describe("item 15: small ones", () => {
  it("concurrent DELETEs of one upload: exactly one 204, the rest 404; then it is gone", async () => {
    const a = await newAccount(1, "deleter");
    const up = new FormData();
    up.append("file", new Blob([(await encodeImage(photo(12, 10), "png", 90)) as Uint8Array<ArrayBuffer>]), "x.png");
    const stored = await call("/v1/uploads", { method: "POST", body: up, headers: a.headers });
    expect(stored.status).toBe(201);
    const { id } = (await stored.json()) as { id: string };
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => call(`/v1/uploads/${id}`, { method: "DELETE", headers: a.headers })),
    );
    const statuses = answers.map((r) => r.status).sort();
    expect(statuses).toEqual([204, 404, 404, 404, 404, 404, 404, 404]);
    for (const r of answers) if (r.status === 404) await expectProblem(r, 404, "upload-not-found");
    expect((await call(`/v1/uploads/${id}`, { method: "DELETE", headers: a.headers })).status).toBe(404);
    // Stored again, it can be deleted again (the claim is per stored version).
    const up2 = new FormData();
    up2.append("file", new Blob([(await encodeImage(photo(12, 10), "png", 90)) as Uint8Array<ArrayBuffer>]), "x.png");
    expect((await call("/v1/uploads", { method: "POST", body: up2, headers: a.headers })).status).toBe(201);
    expect((await call(`/v1/uploads/${id}`, { method: "DELETE", headers: a.headers })).status).toBe(204);
  });

  it("responses that carry a secret are Cache-Control: no-store", async () => {
    const a = await newAccount(1, "secrets");
    const admin = { Authorization: `Bearer ${testEnv.ADMIN_TOKEN}`, "Content-Type": "application/json" };
    const responses: [string, Response][] = [
      ["GET /v1/webhooks/default/secret", await call("/v1/webhooks/default/secret", { headers: a.headers })],
      [
        "POST /v1/webhooks/default/secret/rotate",
        await call("/v1/webhooks/default/secret/rotate", { method: "POST", headers: a.headers }),
      ],
      [
        "POST /v1/tokens",
        await call("/v1/tokens", {
          method: "POST",
          headers: { ...a.headers, "Content-Type": "application/json" },
          body: JSON.stringify({ origin: "https://app.example" }),
        }),
      ],
      [
        "POST /v1/admin/accounts",
        await call("/v1/admin/accounts", { method: "POST", headers: admin, body: JSON.stringify({ name: "x", credits: 0 }) }),
      ],
      ["POST /v1/admin/accounts/{id}/keys", await call(`/v1/admin/accounts/${a.id}/keys`, { method: "POST", headers: admin })],
      [
        "POST /v1/admin/integrations",
        await call("/v1/admin/integrations", {
          method: "POST",
          headers: admin,
          body: JSON.stringify({ name: `r3-secret-${crypto.randomUUID().slice(0, 8)}`, account_id: a.id }),
        }),
      ],
    ];
    for (const [route, res] of responses) {
      expect(res.status, route).toBeLessThan(300);
      expect(res.headers.get("cache-control"), route).toBe("no-store");
    }
  });
});

describe("also: empty multipart fields are absent (Swagger UI's Try it out)", () => {
  const W = 16;
  const H = 12;
  const files = (async () => ({
    image: await encodeImage(photo(W, H), "png", 90),
    mask: await encodeImage(boxMask(W, H, { x: 3, y: 3, width: 5, height: 4 }), "png", 90),
  }))();

  it("image and mask with image_id=, mask_shapes=, model= and blank options: 200, as without them", async () => {
    const { image, mask } = await files;
    const a = await newAccount(5, "swagger");
    const f = new FormData();
    f.append("image", new Blob([image as Uint8Array<ArrayBuffer>], { type: "image/png" }), "image.png");
    f.append("mask", new Blob([mask as Uint8Array<ArrayBuffer>], { type: "image/png" }), "mask.png");
    for (const name of ["image_id", "mask_shapes", "model", "seed", "mask_resize", "output_format", "webhook"])
      f.append(name, "");
    f.append("dilate", "  ");
    const res = await call("/v1/inpaint", { method: "POST", body: f, headers: a.headers });
    expect(res.status, await res.clone().text()).toBe(200);
  });

  it("an empty, unnamed file part is absent too: mask_shapes beside it is the mask", async () => {
    const { image } = await files;
    const a = await newAccount(5, "swagger");
    const f = new FormData();
    f.append("image", new Blob([image as Uint8Array<ArrayBuffer>], { type: "image/png" }), "image.png");
    f.append("mask", new Blob([], { type: "application/octet-stream" }), "");
    f.append("mask_shapes", JSON.stringify({ shapes: [{ type: "rect", x: 2, y: 2, width: 4, height: 4 }] }));
    const res = await call("/v1/inpaint", { method: "POST", body: f, headers: a.headers });
    expect(res.status, await res.clone().text()).toBe(200);
  });

  it("a blank form is still 400 missing image, and a named empty file is still an upload (4xx, not absent)", async () => {
    const a = await newAccount(5, "swagger");
    const blank = new FormData();
    blank.append("image_id", "");
    blank.append("model", "");
    const res = await call("/v1/inpaint", { method: "POST", body: blank, headers: a.headers });
    const doc = await expectProblem(res, 400, "bad-request");
    expect(doc.detail).toMatch(/missing form field "image"/);
    const { mask } = await files;
    const f = new FormData();
    f.append("image", new Blob([]), "photo.png");
    f.append("mask", new Blob([mask as Uint8Array<ArrayBuffer>]), "mask.png");
    const empty = await call("/v1/inpaint", { method: "POST", body: f, headers: a.headers });
    expect(empty.status).toBeGreaterThanOrEqual(400);
    expect(empty.status).toBeLessThan(500);
  });
});

describe("item 8: failed authentication is rate-limited", () => {
  const LIMIT = 20; // AUTH_FAILURE_LIMIT in wrangler.toml
  const hex = (n: number) => n.toString(16).padStart(8, "0");
  const get = (path: string, token: string, ip?: string) =>
    call(path, { headers: { Authorization: `Bearer ${token}`, ...(ip ? { "CF-Connecting-IP": ip } : {}) } });

  async function burst(n: number, request: (i: number) => Promise<Response>) {
    const out: Response[] = [];
    for (let i = 0; i < n; i++) out.push(await request(i));
    return out;
  }

  it("wrong API keys from one address: 401 up to the limit, then 429 with Retry-After and RateLimit headers; a good key from there too", async () => {
    const a = await newAccount(1, "victim");
    const good = a.headers.Authorization.slice("Bearer ".length);
    const ip = "198.51.100.77";
    const answers = await burst(LIMIT + 5, (i) => get("/v1/usage", `wrong-key-${i}`, ip));
    expect(answers.slice(0, LIMIT).map((r) => r.status)).toEqual(Array(LIMIT).fill(401));
    expect(answers.slice(LIMIT).map((r) => r.status)).toEqual(Array(5).fill(429));
    const last = answers[answers.length - 1];
    await expectProblem(last, 429, "rate-limited");
    expect(Number(last.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(last.headers.get("ratelimit-policy")).toBe(`"auth-failures";q=${LIMIT};w=60`);
    expect(last.headers.get("ratelimit")).toMatch(/^"auth-failures";r=0;t=\d+$/);
    expect(answers[0].headers.get("ratelimit")).toMatch(new RegExp(`^"auth-failures";r=${LIMIT - 1};t=\\d+$`));
    // From that address even a good key is refused now, before it is checked; from another it works.
    expect((await get("/v1/usage", good, ip)).status).toBe(429);
    expect((await get("/v1/usage", good, "198.51.100.78")).status).toBe(200);
  });

  it("wrong secrets for one key prefix, from anywhere: 429 past the limit, and the other prefixes are untouched", async () => {
    const prefix = `gmk_${hex(Math.floor(Math.random() * 2 ** 32))}`;
    const answers = await burst(LIMIT + 3, (i) => get("/v1/usage", `${prefix}${hex(i).repeat(4)}`));
    expect(answers.map((r) => r.status)).toEqual([...Array(LIMIT).fill(401), 429, 429, 429]);
    const a = await newAccount(1, "bystander");
    expect((await call("/v1/usage", { headers: a.headers })).status).toBe(200);
  });

  it("wrong admin tokens from one address: 429 past the limit; the admin token from another address works", async () => {
    const ip = "203.0.113.99";
    const answers = await burst(LIMIT + 2, (i) => get("/v1/admin/accounts/acct_x", `not-the-admin-token-${i}`, ip));
    expect(answers.map((r) => r.status)).toEqual([...Array(LIMIT).fill(401), 429, 429]);
    await expectProblem(answers[LIMIT], 429, "rate-limited");
    expect((await get("/v1/admin/accounts/acct_x", testEnv.ADMIN_TOKEN, ip)).status).toBe(429);
    expect((await get("/v1/admin/accounts/acct_x", testEnv.ADMIN_TOKEN, "203.0.113.100")).status).toBe(404);
  });

  it("no credential at all costs nothing and is not counted", async () => {
    const ip = "192.0.2.200";
    const answers = await burst(LIMIT + 2, () => call("/v1/usage", { headers: { "CF-Connecting-IP": ip } }));
    expect(new Set(answers.map((r) => r.status))).toEqual(new Set([401]));
  });
});

describe("item 10: one result cache, one price, whichever route asks", () => {
  it("a job with the same image, mask and options as a sync call just before: a cache hit at the hit price", async () => {
    const a = await newAccount(10, "cached");
    const image = await encodeImage(photo(40, 30), "png", 90);
    const mask = await encodeImage(boxMask(40, 30, { x: 8, y: 6, width: 10, height: 8 }), "png", 90);
    const form = () => {
      const f = new FormData();
      f.append("image", new Blob([image as Uint8Array<ArrayBuffer>]), "image.png");
      f.append("mask", new Blob([mask as Uint8Array<ArrayBuffer>]), "mask.png");
      f.append("feather", "3");
      return f;
    };
    const sync = await call("/v1/inpaint", { method: "POST", body: form(), headers: a.headers });
    expect(sync.status).toBe(200);
    expect(sync.headers.get("x-cache")).toBe("MISS");
    const full = Number(sync.headers.get("x-credits-charged"));
    const res = await call("/v1/jobs", { method: "POST", body: form(), headers: { ...a.headers, Prefer: "wait=30" } });
    const job = (await res.json()) as { status: string; credits_charged: number; output: { cache: string } | null };
    expect(job.status).toBe("succeeded");
    expect(job.output?.cache).toBe("HIT");
    expect(job.credits_charged).toBe(Math.ceil(full * 0.25)); // PRICE_CACHE_HIT_PERCENT

    // The same by URL (POST /v1/jobs as JSON), for another account: its sync call first.
    const b = await newAccount(10, "cached");
    for (const [name, bytes] of [
      ["r3-cache-image.png", image],
      ["r3-cache-mask.png", mask],
    ] as const)
      await fetch(`${testEnv.RECEIVER_URL}/files/${name}`, {
        method: "PUT",
        headers: { "Content-Type": "image/png" },
        body: bytes as Uint8Array<ArrayBuffer>,
      });
    expect((await call("/v1/inpaint", { method: "POST", body: form(), headers: b.headers })).headers.get("x-cache")).toBe("MISS");
    const byUrl = await call("/v1/jobs", {
      method: "POST",
      headers: { ...b.headers, Prefer: "wait=30", "Content-Type": "application/json" },
      body: JSON.stringify({
        image_url: `${testEnv.RECEIVER_URL}/files/r3-cache-image.png`,
        mask_url: `${testEnv.RECEIVER_URL}/files/r3-cache-mask.png`,
        feather: 3,
      }),
    });
    const job2 = (await byUrl.json()) as typeof job;
    expect(job2.status).toBe("succeeded");
    expect(job2.output?.cache).toBe("HIT");
    expect(job2.credits_charged).toBe(Math.ceil(full * 0.25));
  });
});

describe("item 7: a stored result is served without the GPU function", () => {
  const app = createApp();
  it("with the GPU stopped (closed port) or paused (never answers), a repeat is a cache hit", async () => {
    const a = await newAccount(10, "gpu-down");
    const image = await encodeImage(photo(36, 28), "png", 90);
    const mask = await encodeImage(boxMask(36, 28, { x: 5, y: 5, width: 9, height: 7 }), "png", 90);
    const form = () => {
      const f = new FormData();
      f.append("image", new Blob([image as Uint8Array<ArrayBuffer>]), "image.png");
      f.append("mask", new Blob([mask as Uint8Array<ArrayBuffer>]), "mask.png");
      return f;
    };
    const first = await call("/v1/inpaint", { method: "POST", body: form(), headers: a.headers });
    expect(first.status).toBe(200);
    expect(first.headers.get("x-cache")).toBe("MISS");
    const body = new Uint8Array(await first.arrayBuffer());
    for (const gpu of [testEnv.DEAD_GPU_URL, `${brokenInputsUrl()}/hang`]) {
      const res = await app.request(
        "https://edge.test/v1/inpaint",
        { method: "POST", body: form(), headers: a.headers },
        { ...testEnv, GPU_URL: gpu },
      );
      expect(res.status, `${gpu}: ${res.status === 200 ? "" : await res.clone().text()}`).toBe(200);
      expect(res.headers.get("x-cache")).toBe("HIT");
      expect(new Uint8Array(await res.arrayBuffer())).toEqual(body);
    }
  });
});

describe("item 2: one account's slow webhook receiver costs only that account", () => {
  /** Polls `probe` until it answers something (the queues run on their own). */
  async function until<T>(what: string, probe: () => Promise<T | undefined>, tries = 300): Promise<T> {
    for (let i = 0; i < tries; i++) {
      const v = await probe();
      if (v !== undefined) return v;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`gave up waiting for ${what}`);
  }
  const received = async (name: string) =>
    (await (await fetch(`${testEnv.RECEIVER_URL}/hooks/${name}`)).json()) as { headers: Record<string, string> }[];

  it("while A's receiver holds A's delivery, B's delivery reaches B's receiver (A's attempt still unfinished)", async () => {
    const slow = `r3-slow-${crypto.randomUUID().slice(0, 8)}`;
    const fast = `r3-fast-${crypto.randomUUID().slice(0, 8)}`;
    await fetch(`${testEnv.RECEIVER_URL}/behaviour/${slow}`, { method: "PUT", body: JSON.stringify({ delayMs: 10_000 }) });
    const image = await encodeImage(photo(16, 12), "png", 90);
    const submit = async (headers: Record<string, string>, hook: string) => {
      const f = new FormData();
      f.append("image", new Blob([image as Uint8Array<ArrayBuffer>]), "image.png");
      f.append("mask_shapes", JSON.stringify({ shapes: [{ type: "rect", x: 2, y: 2, width: 4, height: 4 }] }));
      f.append("webhook", `${testEnv.RECEIVER_URL}/hooks/${hook}`);
      const res = await call("/v1/jobs", { method: "POST", body: f, headers });
      expect(res.status).toBe(202);
      return ((await res.json()) as { id: string }).id;
    };
    const a = await newAccount(5, "slow-receiver");
    const b = await newAccount(5, "fast-receiver");
    await submit(a.headers, slow);
    // A's delivery is at A's receiver, which holds it.
    const [held] = await until("A's delivery at its receiver", async () => {
      const got = await received(slow);
      return got.length ? got : undefined;
    });
    const aDelivery = held.headers["webhook-id"];
    await submit(b.headers, fast);
    await until("B's delivery at its receiver", async () => ((await received(fast)).length ? true : undefined));
    // The mechanism: B's delivery went out while A's attempt was still in flight (not yet logged).
    const attempts = await env.DB.prepare("SELECT COUNT(*) AS n FROM webhook_attempts WHERE delivery_id = ?")
      .bind(aDelivery)
      .first<{ n: number }>();
    expect(attempts?.n).toBe(0);
    // A's attempt ends in its own time (and is logged): nothing is left running after the test.
    await until("A's attempt logged", async () => {
      const r = await env.DB.prepare("SELECT COUNT(*) AS n FROM webhook_attempts WHERE delivery_id = ?")
        .bind(aDelivery)
        .first<{ n: number }>();
      return r?.n ? true : undefined;
    });
  });
});
