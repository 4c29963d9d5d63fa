/**
 * Tenant isolation: two accounts on the same deployment cannot see each other's uploads,
 * results, cache status or idempotent replies, nor learn that the other stored something
 * (every probe below answered differently before uploads and the cache were keyed per account).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { encodeImage } from "../../workers/codecs.ts";
import { auth, call, newAccount, photo } from "./helpers.ts";

let seed = 0;
/** A PNG no other test in this file sends. */
async function uniquePng(w = 32, h = 24): Promise<Uint8Array> {
  seed++;
  return encodeImage(
    photo(w, h, (x, y) => (x === 1 && y === 1 ? 255 - seed : 255)),
    "png",
    90,
  );
}
const shapes = JSON.stringify({ shapes: [{ type: "rect", x: 8, y: 6, width: 6, height: 5 }] });

function inpaintForm(image: Uint8Array | string, fields: Record<string, string> = {}): FormData {
  const f = new FormData();
  if (typeof image === "string") f.append("image_id", image);
  else f.append("image", new Blob([image as Uint8Array<ArrayBuffer>]), "image.png");
  f.append("mask_shapes", shapes);
  for (const [k, v] of Object.entries(fields)) f.append(k, v);
  return f;
}
const inpaint = (headers: Record<string, string>, body: FormData) => call("/v1/inpaint", { method: "POST", body, headers });

/** Waits until the job has succeeded (its result readable by its owner). */
async function finishedJob(headers: Record<string, string>, id: string): Promise<void> {
  for (let i = 0; ; i++) {
    const j = (await (await call(`/v1/jobs/${id}`, { headers })).json()) as { status: string };
    if (j.status === "succeeded") return;
    if (j.status === "failed" || j.status === "canceled" || i > 400) throw new Error(`job ${id}: ${j.status}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function upload(headers: Record<string, string>, bytes: Uint8Array) {
  const f = new FormData();
  f.append("file", new Blob([bytes as Uint8Array<ArrayBuffer>]), "photo.png");
  return call("/v1/uploads", { method: "POST", body: f, headers });
}

async function problemType(res: Response): Promise<string> {
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  return ((await res.json()) as { type: string }).type.replace(/^.*\//, "");
}

describe("uploads belong to the account that stored them", () => {
  it("another account can neither use, delete nor detect an upload by its id", async () => {
    const [a, b] = [await newAccount(10), await newAccount(10)];
    const bytes = await uniquePng();
    const stored = await upload(a.headers, bytes);
    expect(stored.status).toBe(201);
    const { id } = (await stored.json()) as { id: string };

    // B holds the id: every use of it is the 404 of an id that never existed.
    const never = "f".repeat(64);
    for (const probe of [id, never]) {
      const byId = await inpaint(b.headers, inpaintForm(probe));
      expect(byId.status).toBe(404);
      expect(await problemType(byId)).toBe("upload-not-found");
      expect((await call(`/v1/uploads/${probe}`, { method: "DELETE", headers: b.headers })).status).toBe(404);
      const job = await call("/v1/jobs", { method: "POST", body: inpaintForm(probe), headers: b.headers });
      expect(job.status).toBe(404);
      const json = await call("/v1/jobs", {
        method: "POST",
        headers: { ...b.headers, "Content-Type": "application/json" },
        body: JSON.stringify({ image_id: probe, mask_shapes: JSON.parse(shapes) }),
      });
      expect(json.status).toBe(404);
    }
    // Uploading the same bytes is a new upload for B (201), not "already stored" (200).
    const again = await upload(b.headers, bytes);
    expect(again.status).toBe(201);
    expect(((await again.json()) as { id: string }).id).toBe(id);
    // Within one account the bytes are stored once.
    expect((await upload(a.headers, bytes)).status).toBe(200);
    // Nothing B did charged anything (all refused before a credit was held).
    const usage = (await (await call("/v1/usage", { headers: b.headers })).json()) as { credits_remaining: number };
    expect(usage.credits_remaining).toBe(10);
  });

  it("DELETE /v1/uploads/{id} removes it from the account's view, cached results by id included", async () => {
    const a = await newAccount(10);
    const { id } = (await (await upload(a.headers, await uniquePng())).json()) as { id: string };
    const first = await inpaint(a.headers, inpaintForm(id));
    expect(first.status).toBe(200);
    expect((await inpaint(a.headers, inpaintForm(id))).headers.get("x-cache")).toBe("HIT");

    const del = await call(`/v1/uploads/${id}`, { method: "DELETE", headers: a.headers });
    expect(del.status).toBe(204);
    expect((await call(`/v1/uploads/${id}`, { method: "DELETE", headers: a.headers })).status).toBe(404);
    const after = await inpaint(a.headers, inpaintForm(id));
    expect(after.status).toBe(404);
    expect(await problemType(after)).toBe("upload-not-found");
    expect((await call(`/v1/uploads/${"x".repeat(64)}`, { method: "DELETE", headers: a.headers })).status).toBe(400);
  });

  it("a job by upload id runs on the owner's upload; once deleted, the id is refused at submission", async () => {
    const a = await newAccount(10);
    const { id } = (await (await upload(a.headers, await uniquePng())).json()) as { id: string };
    const ok = await call("/v1/jobs", { method: "POST", body: inpaintForm(id), headers: { ...a.headers, Prefer: "wait=20" } });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { status: string }).status).toBe("succeeded");
    expect((await call(`/v1/uploads/${id}`, { method: "DELETE", headers: a.headers })).status).toBe(204);
    const gone = await call("/v1/jobs", { method: "POST", body: inpaintForm(id), headers: a.headers });
    expect(gone.status).toBe(404);
  });
});

describe("the result cache is per account", () => {
  it("the same image and mask from another account is a MISS at the full price, with its own ETag", async () => {
    const [a, b] = [await newAccount(10), await newAccount(10)];
    const img = await uniquePng();
    const first = await inpaint(a.headers, inpaintForm(img));
    expect(first.headers.get("x-cache")).toBe("MISS");
    const etag = first.headers.get("etag") as string;
    expect((await inpaint(a.headers, inpaintForm(img))).headers.get("x-cache")).toBe("HIT");

    // A's ETag says nothing to B: no 304, no HIT, the miss price.
    const probe = await inpaint({ ...b.headers, "If-None-Match": etag }, inpaintForm(img));
    expect(probe.status).toBe(200);
    expect(probe.headers.get("x-cache")).toBe("MISS");
    expect(probe.headers.get("etag")).not.toBe(etag);
    expect(probe.headers.get("x-credits-charged")).toBe("1");
    const star = await inpaint({ ...b.headers, "If-None-Match": "*" }, inpaintForm(img, { dilate: "1" }));
    expect(star.status).toBe(200);
    expect(star.headers.get("x-cache")).toBe("MISS");
    // And B's own repeat is B's hit.
    expect((await inpaint(b.headers, inpaintForm(img))).headers.get("x-cache")).toBe("HIT");
  });

  it("If-None-Match: * answers 304 only when a result is stored", async () => {
    const a = await newAccount(10);
    const img = await uniquePng();
    const fresh = await inpaint({ ...a.headers, "If-None-Match": "*" }, inpaintForm(img));
    expect(fresh.status).toBe(200);
    expect(fresh.headers.get("x-cache")).toBe("MISS");
    expect(fresh.headers.get("x-credits-charged")).toBe("1");
    const again = await inpaint({ ...a.headers, "If-None-Match": "*" }, inpaintForm(img));
    expect(again.status).toBe(304);
    expect(again.headers.get("x-credits-charged")).toBe("0");
  });

  it("dev keys have their own cache too", async () => {
    const img = await uniquePng();
    expect((await inpaint(auth(), inpaintForm(img))).headers.get("x-cache")).toBe("MISS");
    expect((await inpaint(auth("another-key"), inpaintForm(img))).headers.get("x-cache")).toBe("MISS");
    expect((await inpaint(auth(), inpaintForm(img))).headers.get("x-cache")).toBe("HIT");
  });
});

describe("Idempotency-Key is per account", () => {
  it("two accounts using the same key on /v1/inpaint each get their own response", async () => {
    const [a, b] = [await newAccount(10), await newAccount(10)];
    const key = { "Idempotency-Key": "shared-order-1" };
    const ra = await inpaint({ ...a.headers, ...key }, inpaintForm(await uniquePng()));
    expect(ra.status).toBe(200);
    // B sends another request under the same key: not A's 422 mismatch, not A's replay.
    const rb = await inpaint({ ...b.headers, ...key }, inpaintForm(await uniquePng()));
    expect(rb.status).toBe(200);
    expect(rb.headers.get("idempotent-replayed")).toBeNull();
    expect(rb.headers.get("x-credits-charged")).toBe("1");
    expect(new Uint8Array(await rb.arrayBuffer())).not.toEqual(new Uint8Array(await ra.arrayBuffer()));
    // Each account's repeat replays its own.
    const img = await uniquePng();
    const c1 = await inpaint({ ...b.headers, "Idempotency-Key": "k2" }, inpaintForm(img));
    const c2 = await inpaint({ ...a.headers, "Idempotency-Key": "k2" }, inpaintForm(img));
    expect(c2.headers.get("idempotent-replayed")).toBeNull();
    const c3 = await inpaint({ ...b.headers, "Idempotency-Key": "k2" }, inpaintForm(img));
    expect(c3.headers.get("idempotent-replayed")).toBe("true");
    expect(c3.headers.get("etag")).toBe(c1.headers.get("etag"));
    expect(c3.headers.get("etag")).not.toBe(c2.headers.get("etag"));
  });

  it("two accounts using the same key on /v1/jobs each get their own job", async () => {
    const [a, b] = [await newAccount(10), await newAccount(10)];
    const key = { "Idempotency-Key": "shared-job-1" };
    const img = await uniquePng();
    const ja = await call("/v1/jobs", { method: "POST", body: inpaintForm(img), headers: { ...a.headers, ...key } });
    const jb = await call("/v1/jobs", { method: "POST", body: inpaintForm(img), headers: { ...b.headers, ...key } });
    expect([ja.status, jb.status]).toEqual([202, 202]);
    expect(jb.headers.get("idempotent-replayed")).toBeNull();
    const [ida, idb] = [((await ja.json()) as { id: string }).id, ((await jb.json()) as { id: string }).id];
    expect(idb).not.toBe(ida);
    // Once A's job has a result A can read, B gets what an id that never existed gets.
    await finishedJob(a.headers, ida);
    const never = `job_${"0".repeat(32)}`;
    for (const path of ["", "/result", "/deliveries"]) {
      expect((await call(`/v1/jobs/${ida}${path}`, { headers: a.headers })).status, `A ${path}`).toBe(200);
      const theirs = await call(`/v1/jobs/${ida}${path}`, { headers: b.headers });
      const none = await call(`/v1/jobs/${never}${path}`, { headers: b.headers });
      expect([theirs.status, none.status], `B ${path}`).toEqual([404, 404]);
      expect(await problemType(theirs)).toBe(await problemType(none));
    }
    const replay = await call("/v1/jobs", { method: "POST", body: inpaintForm(img), headers: { ...b.headers, ...key } });
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(((await replay.json()) as { id: string }).id).toBe(idb);
    // One implementation: a replay keeps the same headers on both routes (Location here), and
    // the per-request ones (credits, request id) are this request's.
    expect(replay.headers.get("location")).toBe(`/v1/jobs/${idb}`);
    expect(replay.headers.get("x-credits-charged")).toBe("0");
    const row = await env.DB.prepare("SELECT headers FROM idempotency_keys WHERE account_id = ? AND key = ?")
      .bind(b.id, "shared-job-1")
      .first<{ headers: string }>();
    expect(Object.keys(JSON.parse(row?.headers ?? "{}"))).not.toContain("x-credits-remaining");
  });
});

describe("a job names its upload by the owner's key", () => {
  it("stores uploads/<owner>/<id>, never a bare uploads/<id>", async () => {
    const a = await newAccount(10);
    const bytes = await uniquePng();
    const { id } = (await (await upload(a.headers, bytes)).json()) as { id: string };
    expect(await env.BLOBS.head(`uploads/${id}`)).toBeNull();
    const listed = await env.BLOBS.list({ prefix: "uploads/" });
    expect(listed.objects.filter((o) => o.key.endsWith(`/${id}`)).map((o) => o.key)).toEqual([
      `uploads/${encodeURIComponent(a.id)}/${id}`,
    ]);
  });

  it("a job by upload id records the owner's key as its image and runs on it", async () => {
    const [a, b] = [await newAccount(10), await newAccount(10)];
    const bytes = await uniquePng();
    const { id } = (await (await upload(a.headers, bytes)).json()) as { id: string };
    // B stores the same bytes: the same id, another key. A's job must read A's.
    expect(((await (await upload(b.headers, bytes)).json()) as { id: string }).id).toBe(id);
    const res = await call("/v1/jobs", { method: "POST", body: inpaintForm(id), headers: a.headers });
    expect(res.status).toBe(202);
    const job = (await res.json()) as { id: string };
    const row = await env.DB.prepare("SELECT owner, input FROM jobs WHERE id = ?")
      .bind(job.id)
      .first<{ owner: string; input: string }>();
    expect(row?.owner).toBe(a.id);
    const input = JSON.parse(row?.input ?? "{}") as { image: { key: string } };
    expect(input.image.key).toBe(`uploads/${encodeURIComponent(a.id)}/${id}`);
    expect(await env.BLOBS.head(`jobs/${job.id}/image`)).toBeNull(); // referenced, not copied
    await finishedJob(a.headers, job.id);
    // Once B's copy is gone, A's job still has its image (a job by id that read B's would not).
    expect((await call(`/v1/uploads/${id}`, { method: "DELETE", headers: b.headers })).status).toBe(204);
    expect(await env.BLOBS.head(input.image.key)).not.toBeNull();
  });
});
