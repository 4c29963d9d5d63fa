/**
 * The requests of the hostile probe (issue #10) that used to slip through: each gets its clean
 * 4xx, and nothing is charged, stored or queued for it.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { newImage } from "../../shared/imaging/types.ts";
import { encodeImage } from "../../workers/codecs.ts";
import { expectProblem, footprint } from "./footprint.ts";
import { boxMask, call, form, newAccount, photo, testEnv } from "./helpers.ts";

const W = 24;
const H = 20;
const img = await encodeImage(photo(W, H), "png", 90);
const mask = await encodeImage(boxMask(W, H, { x: 5, y: 5, width: 6, height: 6 }), "png", 90);

describe("form fields that are not options", () => {
  for (const name of ["__proto__", "constructor", "prototype"]) {
    it(`-F ${name}=x beside a valid image and mask: 400 invalid-options, uncharged`, async () => {
      const a = await newAccount(5, "probe");
      const before = await footprint(a.id);
      const res = await call("/v1/inpaint", { method: "POST", body: form(img, mask, { [name]: "x" }), headers: a.headers });
      const doc = await expectProblem(res, 400, "invalid-options");
      expect(doc.detail).toContain(name);
      expect(res.headers.get("x-credits-charged")).toBe("0");
      expect(await footprint(a.id)).toEqual(before);
      const job = await call("/v1/jobs", { method: "POST", body: form(img, mask, { [name]: "x" }), headers: a.headers });
      await expectProblem(job, 400, "invalid-options");
      expect(await footprint(a.id)).toEqual(before);
    });
  }

  for (const name of ["webhook", "webhook_events_filter"]) {
    it(`POST /v1/jobs with two ${name} fields: 400, no job`, async () => {
      const a = await newAccount(5, "probe");
      const f = form(img, mask);
      const values = name === "webhook" ? ["https://a.example/hook", "https://b.example/hook"] : ["completed", "started"];
      if (name === "webhook_events_filter") f.append("webhook", "https://a.example/hook");
      for (const v of values) f.append(name, v);
      const res = await call("/v1/jobs", { method: "POST", body: f, headers: a.headers });
      const doc = await expectProblem(res, 400, "bad-request");
      expect(doc.detail).toContain(name);
      expect((await footprint(a.id)).jobs).toBe(0);
    });
  }
});

describe("a truncated baseline JPEG with FF D9 appended", () => {
  it("is 422 undecodable-image, uncharged, not a half-grey image", async () => {
    const jpg = await encodeImage(photo(64, 48), "jpeg", 90); // baseline (workers/codecs.ts)
    const cut = new Uint8Array(Math.floor(jpg.length * 0.6) + 2);
    cut.set(jpg.subarray(0, cut.length - 2));
    cut.set([0xff, 0xd9], cut.length - 2);
    const m = await encodeImage(boxMask(64, 48, { x: 10, y: 10, width: 8, height: 8 }), "png", 90);
    const a = await newAccount(5, "probe");
    const before = await footprint(a.id);
    const res = await call("/v1/inpaint", {
      method: "POST",
      body: form(cut, m),
      headers: { ...a.headers, "Cache-Control": "no-store" },
    });
    const doc = await expectProblem(res, 422, "undecodable-image");
    expect(doc.detail).toMatch(/truncated|premature/i);
    expect(await footprint(a.id)).toEqual(before);
    // The whole file still decodes (the check is the decoder's warning, not the file's tail).
    const whole = await call("/v1/inpaint", { method: "POST", body: form(jpg, m), headers: a.headers });
    expect(whole.status).toBe(200);
  });

  it("is refused at upload and at job submission too, not stored or queued to fail later", async () => {
    const jpg = await encodeImage(photo(64, 48), "jpeg", 90);
    const cut = new Uint8Array(Math.floor(jpg.length * 0.6) + 2);
    cut.set(jpg.subarray(0, cut.length - 2));
    cut.set([0xff, 0xd9], cut.length - 2);
    const a = await newAccount(5, "probe");
    const before = await footprint(a.id);
    const up = new FormData();
    up.append("file", new Blob([cut as Uint8Array<ArrayBuffer>]), "cut.jpg");
    await expectProblem(await call("/v1/uploads", { method: "POST", body: up, headers: a.headers }), 422, "undecodable-image");
    const f = form(cut, undefined, {
      mask_shapes: JSON.stringify({ shapes: [{ type: "rect", x: 4, y: 4, width: 8, height: 8 }] }),
    });
    await expectProblem(await call("/v1/jobs", { method: "POST", body: f, headers: a.headers }), 422, "undecodable-image");
    expect(await footprint(a.id)).toEqual(before);
  });
});

const big = await encodeImage(newImage(2000, 2000), "png", 90);

describe("the admin API's JSON bodies are strict", () => {
  it("a misspelt member is 400 invalid-options, and no account is created", async () => {
    const count = async () => (await env.DB.prepare("SELECT COUNT(*) AS n FROM accounts").first<{ n: number }>())?.n;
    const before = await count();
    const res = await call("/v1/admin/accounts", {
      method: "POST",
      headers: { Authorization: `Bearer ${testEnv.ADMIN_TOKEN}`, "Content-Type": "application/json" },
      body: JSON.stringify({ name: "x", credit: 5 }),
    });
    const doc = await expectProblem(res, 400, "invalid-options");
    expect(doc.detail).toContain("credit");
    expect(await count()).toBe(before);
  });
});

describe("mask_shapes that would hold the isolate", () => {
  let rnd = 7;
  const next = () => {
    rnd = (rnd * 1103515245 + 12345) & 0x7fffffff;
    return (rnd / 0x7fffffff) * 2000;
  };
  const probes: Record<string, unknown> = {
    "2 strokes x 10,000 points": {
      shapes: [0, 1].map(() => ({ type: "stroke", width: 30, points: Array.from({ length: 10_000 }, () => [next(), next()]) })),
    },
    "5 zero-area polygons x 10,000 points": {
      shapes: Array.from({ length: 5 }, () => ({
        type: "polygon",
        points: Array.from({ length: 10_000 }, (_, i) => [i % 2 ? 10 : 20, i % 2 ? 0 : 2000]),
      })),
    },
    // Under the point limit, over the work budget: 500 full-image rectangles, one 4000-point zigzag.
    "500 full-image rectangles": {
      shapes: Array.from({ length: 500 }, () => ({ type: "rect", x: 0, y: 0, width: 2000, height: 2000 })),
    },
    "a 4,000-point zigzag polygon": {
      shapes: [{ type: "polygon", points: Array.from({ length: 4000 }, (_, i) => [i / 2, i % 2 ? 0 : 2000]) }],
    },
    "a 2,000-point stroke 400 px wide": {
      shapes: [{ type: "stroke", width: 400, points: Array.from({ length: 2000 }, () => [next(), next()]) }],
    },
  };
  async function uploadBig(headers: Record<string, string>): Promise<string> {
    const up = new FormData();
    up.append("file", new Blob([big as Uint8Array<ArrayBuffer>]), "big.png");
    const res = await call("/v1/uploads", { method: "POST", body: up, headers });
    expect(res.status).toBe(201);
    return ((await res.json()) as { id: string }).id;
  }

  for (const [name, doc] of Object.entries(probes)) {
    it(`${name} on a 2000x2000 image: 422 mask-too-complex, uncharged; the job is refused at submission`, async () => {
      const a = await newAccount(20, "probe");
      const id = await uploadBig(a.headers);
      const before = await footprint(a.id);
      const f = new FormData();
      f.append("image_id", id);
      f.append("mask_shapes", JSON.stringify(doc));
      const res = await call("/v1/inpaint", { method: "POST", body: f, headers: a.headers });
      await expectProblem(res, 422, "mask-too-complex");
      expect(await footprint(a.id)).toEqual(before);
      const job = await call("/v1/jobs", {
        method: "POST",
        headers: { ...a.headers, "Content-Type": "application/json" },
        body: JSON.stringify({ image_id: id, mask_shapes: doc }),
      });
      await expectProblem(job, 422, "mask-too-complex");
      expect(await footprint(a.id)).toEqual(before);
    });
  }

  it("a real brush stroke on the same image is drawn and charged once", async () => {
    const a = await newAccount(20, "probe");
    const id = await uploadBig(a.headers);
    const stroke = {
      type: "stroke",
      width: 24,
      points: Array.from({ length: 400 }, (_, i) => [300 + i * 3, 900 + 80 * Math.sin(i / 30)]),
    };
    const f = new FormData();
    f.append("image_id", id);
    f.append("mask_shapes", JSON.stringify({ shapes: [stroke] }));
    f.append("hd_strategy", "crop");
    const res = await call("/v1/inpaint", { method: "POST", body: f, headers: a.headers });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-credits-charged")).toBe("2"); // 4 MP: the 1-4 MP tier
  });
});
