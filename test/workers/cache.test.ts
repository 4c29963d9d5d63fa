/**
 * Uploads (content-addressed in R2) and the result cache (R2 + Cache API, keyed by the exact
 * inputs and the served model's version), with in-flight coalescing by a Durable Object.
 */
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../workers/app.ts";
import { encodeImage } from "../../workers/codecs.ts";
import { auth, photo, testEnv } from "./helpers.ts";

const app = createApp();
let seed = 0;
/** A PNG no other test sends (cache entries outlive a test within this file). */
const uniqueImage = async (w = 48, h = 40) => {
  seed++;
  return encodeImage(
    photo(w, h, (x, y) => (x === 0 && y === 0 ? 255 - seed : 255)),
    "png",
    90,
  );
};
const shapes = JSON.stringify({ shapes: [{ type: "rect", x: 10, y: 10, width: 6, height: 6 }] });

function inpaintForm(image: Uint8Array | string, fields: Record<string, string> = {}) {
  const f = new FormData();
  if (typeof image === "string") f.append("image_id", image);
  else f.append("image", new Blob([image as Uint8Array<ArrayBuffer>]), "image");
  f.append("mask_shapes", shapes);
  for (const [k, v] of Object.entries(fields)) f.append(k, v);
  return f;
}

const post = (body: FormData, headers: Record<string, string> = auth()) =>
  exports.default.fetch(new Request("http://edge/v1/inpaint", { method: "POST", body, headers }));
const postWith = (vars: Record<string, string>, body: FormData, headers: Record<string, string> = auth()) =>
  app.request("/v1/inpaint", { method: "POST", body, headers }, { ...testEnv, ...vars });
const upload = (bytes: Uint8Array) => {
  const f = new FormData();
  f.append("file", new Blob([bytes as Uint8Array<ArrayBuffer>]), "photo");
  return exports.default.fetch(new Request("http://edge/v1/uploads", { method: "POST", body: f, headers: auth() }));
};

describe("result cache", () => {
  it("miss, then hit with the same bytes, ETag and model", async () => {
    const img = await uniqueImage();
    const first = await post(inpaintForm(img));
    expect(first.status).toBe(200);
    expect(first.headers.get("x-cache")).toBe("MISS");
    const etag = first.headers.get("etag");
    expect(etag).toMatch(/^"[0-9a-f]{64}"$/);
    const body = new Uint8Array(await first.arrayBuffer());

    const second = await post(inpaintForm(img));
    expect(second.headers.get("x-cache")).toBe("HIT");
    expect(second.headers.get("etag")).toBe(etag);
    expect(second.headers.get("x-model")).toBe("stand-in@1");
    expect(second.headers.get("x-inpaint-regions")).toBe("1");
    expect(new Uint8Array(await second.arrayBuffer())).toEqual(body);
  });

  it("other options are another key; Cache-Control: no-store bypasses", async () => {
    const img = await uniqueImage();
    await post(inpaintForm(img));
    expect((await post(inpaintForm(img, { dilate: "1" }))).headers.get("x-cache")).toBe("MISS");
    expect((await post(inpaintForm(img, { output_format: "jpeg" }))).headers.get("x-cache")).toBe("MISS");
    const bypass = await post(inpaintForm(img), { ...auth(), "Cache-Control": "no-store" });
    expect(bypass.headers.get("x-cache")).toBe("BYPASS");
  });

  it("If-None-Match with the ETag: 304, no body", async () => {
    const img = await uniqueImage();
    const etag = (await post(inpaintForm(img))).headers.get("etag") as string;
    const res = await post(inpaintForm(img), { ...auth(), "If-None-Match": etag });
    expect(res.status).toBe(304);
    expect(res.headers.get("etag")).toBe(etag);
    expect(await res.text()).toBe("");
    expect((await post(inpaintForm(img), { ...auth(), "If-None-Match": '"other"' })).status).toBe(200);
  });

  it("a new model version misses (and never serves the old result)", async () => {
    const img = await uniqueImage();
    const v1 = await post(inpaintForm(img));
    expect(v1.headers.get("x-cache")).toBe("MISS");
    expect((await post(inpaintForm(img))).headers.get("x-cache")).toBe("HIT");
    const v2 = await postWith({ GPU_URL: `${testEnv.STAND_IN_URL}/v2` }, inpaintForm(img));
    expect(v2.headers.get("x-cache")).toBe("MISS");
    expect(v2.headers.get("x-model")).toBe("stand-in@2");
    expect(v2.headers.get("etag")).not.toBe(v1.headers.get("etag"));
    const again = await postWith({ GPU_URL: `${testEnv.STAND_IN_URL}/v2` }, inpaintForm(img));
    expect(again.headers.get("x-cache")).toBe("HIT");
    expect(again.headers.get("x-model")).toBe("stand-in@2");
  });

  it("the bytes are in R2 under results/<key>", async () => {
    const img = await uniqueImage();
    const etag = (await post(inpaintForm(img))).headers.get("etag") as string;
    const obj = await env.BLOBS.head(`results/${etag.slice(1, -1)}`);
    expect(obj?.httpMetadata?.contentType).toBe("image/png");
    expect(obj?.customMetadata?.model).toBe("stand-in@1");
  });

  it("two concurrent identical requests run the GPU once", async () => {
    const counted = `${testEnv.STAND_IN_URL}/counted`;
    const count = async () => ((await (await fetch(`${counted}/count`)).json()) as { count: number }).count;
    const img = await uniqueImage();
    const before = await count();
    const [a, b] = await Promise.all([
      postWith({ GPU_URL: counted }, inpaintForm(img)),
      postWith({ GPU_URL: counted }, inpaintForm(img)),
    ]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(await count()).toBe(before + 1);
    const bodies = [new Uint8Array(await a.arrayBuffer()), new Uint8Array(await b.arrayBuffer())];
    expect(bodies[0]).toEqual(bodies[1]);
    expect([a.headers.get("x-coalesced"), b.headers.get("x-coalesced")]).toContain("1");
  });
});

describe("POST /v1/uploads", () => {
  it("stores an image once per account under its SHA-256 and answers id, size and dimensions", async () => {
    const img = await uniqueImage(30, 20);
    const sha = Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", img)), (b) =>
      b.toString(16).padStart(2, "0"),
    ).join("");
    const first = await upload(img);
    expect(first.status).toBe(201);
    expect(await first.json()).toEqual({ id: sha, sha256: sha, width: 30, height: 20, bytes: img.length });
    const again = await upload(img);
    expect(again.status).toBe(200);
    expect(((await again.json()) as { id: string }).id).toBe(sha);
    const listed = await env.BLOBS.list({ prefix: "uploads/" });
    expect(listed.objects.filter((o) => o.key.endsWith(`/${sha}`)).length).toBe(1);
  });

  it("/v1/inpaint takes image_id instead of image, and caches the same way", async () => {
    const img = await uniqueImage();
    const { id } = (await (await upload(img)).json()) as { id: string };
    const byId = await post(inpaintForm(id));
    expect(byId.status).toBe(200);
    expect(byId.headers.get("x-cache")).toBe("MISS");
    const byFile = await post(inpaintForm(img)); // same bytes, same key
    expect(byFile.headers.get("x-cache")).toBe("HIT");
  });

  it("refuses unknown ids (404), malformed ids and both image and image_id (400), non-images (415)", async () => {
    const unknown = await post(inpaintForm("0".repeat(64)));
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { type: string }).type).toMatch(/upload-not-found$/);
    expect((await post(inpaintForm("nope"))).status).toBe(400);
    const both = inpaintForm(await uniqueImage());
    both.append("image_id", "0".repeat(64));
    expect((await post(both)).status).toBe(400);
    expect((await upload(new TextEncoder().encode("GIF89a...."))).status).toBe(415);
  });
});
