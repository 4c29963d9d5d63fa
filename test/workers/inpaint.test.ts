/**
 * POST /v1/inpaint inside workerd against the real GPU function app on a real socket
 * (test/workers/node/gpu-stand-in.ts: hole pixels come back as FILL).
 */
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { RgbaImage } from "../../shared/imaging/types.ts";
import { createApp } from "../../workers/app.ts";
import { decodeUpload, type EdgeFormat, encodeImage, inspectUpload } from "../../workers/codecs.ts";
import { uploadLimits } from "../../workers/env.ts";
import { auth, boxMask, form, photo, pngHeaderOnly, testEnv } from "./helpers.ts";

const FILL = [12, 200, 99];
const app = createApp();

/** Through the real entry (wrangler.toml bindings + the test config's). */
const post = (body: FormData, headers: Record<string, string> = auth()) =>
  exports.default.fetch(new Request("http://edge/v1/inpaint", { method: "POST", body, headers }));

/** Through createApp() with some bindings overridden (another GPU URL, other limits). */
const postWith = (env: Record<string, string>, body: FormData | string, headers: Record<string, string> = auth()) =>
  app.request("/v1/inpaint", { method: "POST", body, headers }, { ...testEnv, ...env });

/** Skips the result cache (these tests send the same pair to GPU stand-ins that fail). */
const noStore = { ...auth(), "Cache-Control": "no-store" };

async function decodeResponse(res: Response): Promise<RgbaImage> {
  const bytes = new Uint8Array(await res.arrayBuffer());
  const h = inspectUpload(bytes, "image", uploadLimits({}), ["png", "jpeg", "webp"]);
  return decodeUpload(bytes, h, "image");
}

async function pair(w: number, h: number, box = { x: 10, y: 8, width: 12, height: 10 }, format: EdgeFormat = "png") {
  const img = photo(w, h, (x) => (x % 2 ? 255 : 180));
  return {
    img,
    box,
    image: await encodeImage(img, format, 92),
    mask: await encodeImage(boxMask(w, h, box), "png", 90),
  };
}

const inBox = (x: number, y: number, b: { x: number; y: number; width: number; height: number }) =>
  x >= b.x && x < b.x + b.width && y >= b.y && y < b.y + b.height;

describe("POST /v1/inpaint", () => {
  it("fills the hole and leaves every other pixel (and all alpha) unchanged", async () => {
    const p = await pair(48, 40);
    const res = await post(form(p.image, p.mask));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/png");
    expect(res.headers.get("x-request-id")).toMatch(/^[\w-]+$/);
    expect(res.headers.get("x-model")).toBe("stand-in@1");
    expect(res.headers.get("x-inpaint-regions")).toBe("1");
    expect(res.headers.get("server-timing")).toMatch(/decode;dur=.*gpu;dur=.*encode;dur=.*edge;dur=/);
    const out = await decodeResponse(res);
    expect([out.width, out.height]).toEqual([48, 40]);
    let changedOutside = 0;
    let filled = 0;
    for (let y = 0; y < 40; y++)
      for (let x = 0; x < 48; x++) {
        const i = (y * 48 + x) * 4;
        expect(out.data[i + 3]).toBe(p.img.data[i + 3]);
        if (!inBox(x, y, p.box)) changedOutside += +(out.data.slice(i, i + 4).join() !== p.img.data.slice(i, i + 4).join());
        else filled += +(out.data.slice(i, i + 3).join() === FILL.join());
      }
    expect(changedOutside).toBe(0);
    expect(filled).toBe(p.box.width * p.box.height);
  });

  it("keeps the caller's X-Request-Id", async () => {
    const p = await pair(32, 24);
    const res = await post(form(p.image, p.mask), { ...auth(), "X-Request-Id": "trace-42" });
    expect(res.headers.get("x-request-id")).toBe("trace-42");
    expect(res.headers.get("ratelimit")).toMatch(/^"default";r=\d+;t=\d+$/);
  });

  it("answers JPEG for JPEG, and PNG when output_format says so (unmasked = decoded input)", async () => {
    const p = await pair(64, 48, undefined, "jpeg");
    const jpg = await post(form(p.image, p.mask));
    expect(jpg.status).toBe(200);
    expect(jpg.headers.get("content-type")).toBe("image/jpeg");
    expect((await decodeResponse(jpg)).width).toBe(64);

    const png = await post(form(p.image, p.mask, { output_format: "png" }));
    expect(png.headers.get("content-type")).toBe("image/png");
    const out = await decodeResponse(png);
    const input = await decodeUpload(p.image, inspectUpload(p.image, "image", uploadLimits({}), ["jpeg"]), "image");
    for (let y = 0; y < 48; y++)
      for (let x = 0; x < 64; x++) {
        if (inBox(x, y, p.box)) continue;
        const i = (y * 64 + x) * 4;
        expect(out.data.slice(i, i + 4)).toEqual(input.data.slice(i, i + 4));
      }
  });

  it("round-trips WebP", async () => {
    const p = await pair(40, 32, undefined, "webp");
    const res = await post(form(p.image, p.mask));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/webp");
    expect((await decodeResponse(res)).height).toBe(32);
  });

  it("returns an empty-mask upload byte for byte without calling the GPU", async () => {
    const p = await pair(32, 24);
    const empty = await encodeImage(boxMask(32, 24), "png", 90);
    const res = await postWith({ GPU_URL: testEnv.DEAD_GPU_URL }, form(p.image, empty));
    expect(res.status).toBe(200);
    expect(res.headers.get("x-inpaint-regions")).toBe("0");
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(p.image);
  });

  it("sends only the crop around a small hole of a 2048x1536 JPEG", async () => {
    const p = await pair(2048, 1536, { x: 1500, y: 300, width: 40, height: 30 }, "jpeg");
    const res = await post(form(p.image, p.mask, { hd_strategy: "crop", output_format: "png" }));
    expect(res.status).toBe(200);
    expect(res.headers.get("x-inpaint-regions")).toBe("1");
    const out = await decodeResponse(res);
    expect([out.width, out.height]).toEqual([2048, 1536]);
    const input = await decodeUpload(p.image, inspectUpload(p.image, "image", uploadLimits({}), ["jpeg"]), "image");
    let diff = 0;
    for (let y = 0; y < 1536; y++)
      for (let x = 0; x < 2048; x++) {
        if (inBox(x, y, p.box)) continue;
        const i = (y * 2048 + x) * 4;
        for (let c = 0; c < 4; c++) diff += +(out.data[i + c] !== input.data[i + c]);
      }
    expect(diff).toBe(0);
  });
});

describe("errors are problem+json with a stable type", () => {
  const expectProblem = async (res: Response, status: number, kind: string) => {
    expect(res.status).toBe(status);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    const doc = (await res.json()) as Record<string, unknown>;
    expect(doc).toMatchObject({ type: `https://gmcnn-edge.dev/problems/${kind}`, status });
    expect(doc.request_id).toBe(res.headers.get("x-request-id"));
    return doc;
  };

  it("401 without a key, with a wrong key, and when no keys are configured", async () => {
    const p = await pair(16, 16);
    const none = await post(form(p.image, p.mask), {});
    await expectProblem(none, 401, "unauthorized");
    expect(none.headers.get("www-authenticate")).toMatch(/^Bearer/);
    await expectProblem(await post(form(p.image, p.mask), auth("nope")), 401, "unauthorized");
    await expectProblem(await postWith({ API_KEYS: "" }, form(p.image, p.mask)), 401, "unauthorized");
    expect((await post(form(p.image, p.mask), auth("another-key"))).status).toBe(200);
  });

  it("400 for a missing file and for a repeated one", async () => {
    const p = await pair(16, 16);
    await expectProblem(await post(form(p.image, undefined)), 400, "bad-request");
    const twice = form(p.image, p.mask);
    twice.append("mask", new Blob([p.mask as Uint8Array<ArrayBuffer>]), "again.png");
    await expectProblem(await post(twice), 400, "bad-request");
  });

  it("400 invalid-options lists the zod issues", async () => {
    const p = await pair(16, 16);
    const doc = await expectProblem(
      await post(form(p.image, p.mask, { dilate: "lots", hd_strategy: "zoom", colour: "red" })),
      400,
      "invalid-options",
    );
    const fields = (doc.issues as { field: string | null }[]).map((i) => i.field);
    expect(fields).toEqual(expect.arrayContaining(["dilate", "hd_strategy"]));
    expect(JSON.stringify(doc.issues)).toContain("colour");
  });

  it("coerces numbers and booleans from form strings", async () => {
    const p = await pair(32, 24);
    const res = await post(form(p.image, p.mask, { dilate: "2", invert_mask: "false", jpeg_quality: "80" }));
    expect(res.status).toBe(200);
  });

  it("413 for a 50000x50000 PNG header, from the header alone", async () => {
    // The files are 33 bytes of signature and IHDR: a decode would fail as undecodable-image, so
    // a 413 image-too-large can only come from reading the header.
    const ihdr = pngHeaderOnly(50000, 50000);
    const doc = await expectProblem(await post(form(ihdr, ihdr)), 413, "image-too-large");
    const limits = uploadLimits(testEnv);
    expect(doc).toMatchObject({ width: 50000, height: 50000, max_side: limits.maxSide, max_megapixels: limits.maxMegapixels });
    expect(String(doc.detail)).toContain(`${limits.maxSide} px per side and ${limits.maxMegapixels} MP`);
  });

  it("413 when a file exceeds MAX_UPLOAD_BYTES, and when the body does", async () => {
    const p = await pair(64, 64);
    const doc = await expectProblem(
      await postWith({ MAX_UPLOAD_BYTES: "1000" }, form(p.image, p.mask)),
      413,
      "payload-too-large",
    );
    expect(doc).toMatchObject({ limit_bytes: 1000 });
    const big = form(new Uint8Array(200_000), p.mask);
    await expectProblem(await postWith({ MAX_UPLOAD_BYTES: "10000" }, big), 413, "payload-too-large");
  });

  it("415 for a GIF, for a JPEG mask and for a body that is not multipart", async () => {
    const p = await pair(16, 16);
    const gif = new TextEncoder().encode("GIF89a\x10\x00\x10\x00");
    await expectProblem(await post(form(gif, p.mask)), 415, "unsupported-media-type");
    const jpegMask = await encodeImage(boxMask(16, 16, { x: 1, y: 1, width: 4, height: 4 }), "jpeg", 90);
    await expectProblem(await post(form(p.image, jpegMask)), 415, "unsupported-media-type");
    await expectProblem(
      await postWith({}, "{}", { ...auth(), "Content-Type": "application/json" }),
      415,
      "unsupported-media-type",
    );
  });

  it("422 when the mask size differs from the image's", async () => {
    const p = await pair(32, 24);
    const other = await encodeImage(boxMask(24, 32, { x: 1, y: 1, width: 4, height: 4 }), "png", 90);
    const doc = await expectProblem(await post(form(p.image, other)), 422, "mask-mismatch");
    expect(doc).toMatchObject({ image: { width: 32, height: 24 }, mask: { width: 24, height: 32 } });
  });

  it("422 for a truncated image and for a corrupt one", async () => {
    const p = await pair(32, 24);
    await expectProblem(await post(form(p.image.slice(0, p.image.length - 20), p.mask)), 422, "undecodable-image");
    const corrupt = p.image.slice();
    corrupt.fill(7, 40, corrupt.length - 12); // IHDR and IEND intact, the data is noise
    await expectProblem(await post(form(corrupt, p.mask)), 422, "undecodable-image");
  });

  it("422 model-not-found when the GPU function serves another model", async () => {
    const p = await pair(16, 16);
    await expectProblem(await post(form(p.image, p.mask, { model: "other@2" })), 422, "model-not-found");
  });

  it("503 gpu-unavailable with Retry-After when nothing listens at GPU_URL", async () => {
    const p = await pair(16, 16);
    const res = await postWith({ GPU_URL: testEnv.DEAD_GPU_URL }, form(p.image, p.mask));
    await expectProblem(res, 503, "gpu-unavailable");
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  it("503 gpu-busy passes on the GPU function's Retry-After", async () => {
    const p = await pair(16, 16);
    // no-store: the same pair's result is already cached from a test above. The edge's own
    // default is 5 s; each stand-in below answers another value, which must come through as is.
    // /busy is the real GPU app with its only slot taken for good and no run completed: its queue
    // estimates ceil(1 run ahead x 1 s / 1 slot) = 1 s; /busy-37 is the same with an estimate of 37 s.
    for (const [path, want] of [
      ["busy", "1"],
      ["busy-37", "37"],
    ]) {
      const res = await postWith({ GPU_URL: `${testEnv.STAND_IN_URL}/${path}` }, form(p.image, p.mask), noStore);
      await expectProblem(res, 503, "gpu-busy");
      expect(res.headers.get("retry-after"), path).toBe(want);
    }
  });

  it("504 gpu-timeout after GPU_TIMEOUT_MS", async () => {
    const p = await pair(16, 16);
    const res = await postWith(
      { GPU_URL: `${testEnv.STAND_IN_URL}/slow`, GPU_TIMEOUT_MS: "300" },
      form(p.image, p.mask),
      noStore,
    );
    await expectProblem(res, 504, "gpu-timeout");
    expect(res.headers.get("retry-after")).toBeTruthy();
  });

  it("502 gpu-bad-response for an answer that is not the protocol, and for refused credentials", async () => {
    const p = await pair(16, 16);
    const res = await postWith({ GPU_URL: `${testEnv.STAND_IN_URL}/garbage` }, form(p.image, p.mask));
    await expectProblem(res, 502, "gpu-bad-response");
    expect(res.headers.get("retry-after")).toBeTruthy();
    const secret = `${testEnv.STAND_IN_URL}/secret`;
    await expectProblem(await postWith({ GPU_URL: secret, GPU_SECRET: "wrong" }, form(p.image, p.mask)), 502, "gpu-bad-response");
    expect((await postWith({ GPU_URL: secret, GPU_SECRET: "stand-in-secret" }, form(p.image, p.mask))).status).toBe(200);
  });

  it("404 problem for an unknown route", async () => {
    await expectProblem(await exports.default.fetch("http://edge/v2/nothing"), 404, "not-found");
  });
});
