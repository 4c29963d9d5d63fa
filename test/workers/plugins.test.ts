/**
 * The plugin system inside workerd, through the real routes: GET /v1/plugins and /openapi.json
 * show what gmcnn.config.ts loads; a COCO RLE mask, the example watermark source and the
 * post-processors per request (texture synthesis and its work bound too); the fallback backend's X-Gpu-Backend; the GitHub-style and
 * Cloudinary webhook sources on POST /v1/hooks; and a bad plugin setting refused by name.
 */
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { noiseSigma } from "../../shared/imaging/grain.ts";
import type { Mask, RgbaImage } from "../../shared/imaging/types.ts";
import { MAX_POST_WORK } from "../../shared/plugins/contract.ts";
import { encodeCounts } from "../../shared/plugins/mask/coco-rle.ts";
import { githubWebhooks } from "../../shared/plugins/webhooks/github.ts";
import { createApp } from "../../workers/app.ts";
import { decodeUpload, encodeImage, inspectUpload } from "../../workers/codecs.ts";
import { uploadLimits } from "../../workers/env.ts";
import { expectProblem, footprint } from "./footprint.ts";
import { auth, newAccount, photo, testEnv } from "./helpers.ts";

const FILL = [12, 200, 99];
const W = 40;
const H = 30;
const app = createApp();
/** The test photo with seeded noise (sigma ~6), so grain matching has a noise level to match. */
function noisy(): RgbaImage {
  const img = photo(W, H);
  let s = 11;
  for (let i = 0; i < img.data.length; i++) {
    if (i % 4 === 3) continue;
    s = (s * 1664525 + 1013904223) >>> 0;
    img.data[i] += ((s >>> 24) % 21) - 10;
  }
  return img;
}
const ORIGINAL = noisy();

const call = (path: string, init: RequestInit = {}, env: Record<string, string> = {}) =>
  app.request(path, init, { ...testEnv, ...env });

async function inpaint(mask: Blob, fields: Record<string, string> = {}, env: Record<string, string> = {}, image = ORIGINAL) {
  const f = new FormData();
  f.append("image", new Blob([(await encodeImage(image, "png", 90)) as Uint8Array<ArrayBuffer>]), "image.png");
  f.append("mask", mask, "mask");
  for (const [k, v] of Object.entries(fields)) f.append(k, v);
  return call("/v1/inpaint", { method: "POST", body: f, headers: { ...auth(), "Cache-Control": "no-store" } }, env);
}

async function decoded(res: Response): Promise<RgbaImage> {
  const bytes = new Uint8Array(await res.arrayBuffer());
  return decodeUpload(bytes, inspectUpload(bytes, "image", uploadLimits({}), ["png"]), "image");
}

/** Pixels equal to the stand-in's fill, and pixels changed outside `hole`. */
function tally(out: RgbaImage, hole: (x: number, y: number) => boolean) {
  const orig = ORIGINAL;
  let filled = 0;
  let changedOutside = 0;
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const p = (y * W + x) * 4;
      const same = [0, 1, 2, 3].every((c) => out.data[p + c] === orig.data[p + c]);
      if (!hole(x, y)) changedOutside += same ? 0 : 1;
      else if (FILL.every((v, c) => out.data[p + c] === v)) filled++;
    }
  return { filled, changedOutside };
}

const json = (v: unknown) => new Blob([JSON.stringify(v)], { type: "application/json" });

/** Column-major runs of the box (background first), as COCO writes them. */
function rleOf(b: { x: number; y: number; width: number; height: number }) {
  const counts: number[] = [];
  let cur = 0;
  let n = 0;
  for (let x = 0; x < W; x++)
    for (let y = 0; y < H; y++) {
      const v = x >= b.x && x < b.x + b.width && y >= b.y && y < b.y + b.height ? 1 : 0;
      if (v !== cur) {
        counts.push(n);
        n = 0;
        cur = v;
      }
      n++;
    }
  counts.push(n);
  return { size: [H, W], counts: encodeCounts(counts) };
}

describe("GET /v1/plugins and /openapi.json", () => {
  it("list every loaded plugin by kind, the selected backend and the options each adds", async () => {
    const res = await exports.default.fetch("http://edge/v1/plugins");
    expect(res.status).toBe(200);
    const { plugins } = (await res.json()) as {
      plugins: { name: string; kind: string; version: string; selected?: boolean; options: object }[];
    };
    const byKind = (k: string) => plugins.filter((p) => p.kind === k).map((p) => p.name);
    expect(byKind("mask-source")).toEqual(["png", "shapes", "coco-rle", "watermark-corner"]);
    expect(byKind("inference")).toEqual(["http", "fallback", "local"]);
    expect(byKind("post-processor")).toEqual(["seam-blend", "texture", "feather", "grain"]);
    expect(byKind("encoder")).toEqual(["png", "jpeg", "webp"]);
    expect(byKind("webhook-source")).toEqual(["standard-webhooks", "github", "cloudinary"]);
    expect(plugins.find((p) => p.name === "http")?.selected).toBe(true);
    expect(plugins.find((p) => p.name === "seam-blend")?.options).toEqual({
      seam_blend: expect.objectContaining({ type: "boolean", default: false }),
    });
    expect(plugins.find((p) => p.name === "texture")?.options).toEqual({
      texture: expect.objectContaining({ type: "string", enum: ["off", "auto", "on"], default: "off" }),
    });
    for (const p of plugins) expect(p.version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("/openapi.json shows the plugins' options on the inpaint and job routes", async () => {
    const doc = (await (await exports.default.fetch("http://edge/openapi.json")).json()) as {
      paths: Record<string, { post: { requestBody: { content: Record<string, { schema: unknown }> } } }>;
    };
    const props = (path: string, type: string) => {
      const s = doc.paths[path].post.requestBody.content[type].schema as { properties?: object; $ref?: string };
      return Object.keys(s.properties ?? {});
    };
    for (const [path, type] of [
      ["/v1/inpaint", "multipart/form-data"],
      ["/v1/jobs", "multipart/form-data"],
      ["/v1/jobs", "application/json"],
    ])
      expect(props(path, type), `${path} ${type}`).toEqual(
        expect.arrayContaining(["seam_blend", "texture", "grain", "feather", "dilate"]),
      );
  });
});

describe("mask sources through POST /v1/inpaint", () => {
  const box = { x: 8, y: 6, width: 10, height: 7 };
  const inBox = (x: number, y: number) => x >= box.x && x < box.x + box.width && y >= box.y && y < box.y + box.height;

  it("a COCO RLE mask (a JSON file) fills exactly its runs", async () => {
    const res = await inpaint(json(rleOf(box)));
    expect(res.status).toBe(200);
    expect(tally(await decoded(res), inBox)).toEqual({ filled: box.width * box.height, changedOutside: 0 });
  });

  it("the example plugin's watermark box (examples/plugins/watermark-mask)", async () => {
    const res = await inpaint(json({ watermark: { corner: "top-left", width: 0.25, height: 0.2 } }));
    expect(res.status).toBe(200);
    const hole = (x: number, y: number) => x < 10 && y < 6;
    expect(tally(await decoded(res), hole)).toEqual({ filled: 60, changedOutside: 0 });
  });

  it("a mask no source reads: 415 naming what the sources accept", async () => {
    const res = await inpaint(new Blob(["just text"]));
    expect(res.status).toBe(415);
    const p = (await res.json()) as { detail: string; accepted: string[] };
    expect(p.accepted).toEqual(["png", "shapes", "coco-rle", "watermark-corner"]);
    expect(p.detail).toMatch(/COCO RLE/);
  });

  it("an RLE of another size: 422 mask-mismatch", async () => {
    const res = await inpaint(json({ size: [10, 10], counts: [100] }));
    expect(res.status).toBe(422);
    expect(((await res.json()) as { type: string }).type).toMatch(/mask-mismatch$/);
  });
});

describe("post-processors per request", () => {
  const box = { x: 12, y: 9, width: 14, height: 11 };
  const inBox = (x: number, y: number) => x >= box.x && x < box.x + box.width && y >= box.y && y < box.y + box.height;
  const rect = json({ shapes: [{ type: "rect", ...box }] });

  const mask: Mask = { width: W, height: H, data: new Uint8Array(W * H) };
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) mask.data[y * W + x] = inBox(x, y) ? 1 : 0;
  const whole = { x: 0, y: 0, width: W, height: H };
  const px = (img: RgbaImage, x: number, y: number) => [0, 1, 2].map((c) => img.data[(y * W + x) * 4 + c]);
  /** Distance of a hole pixel to the nearest kept pixel (a rectangle: straight out). */
  const depth = (x: number, y: number) => Math.min(x - box.x + 1, box.x + box.width - x, y - box.y + 1, box.y + box.height - y);
  /** Mean colour step across the hole's border: hole pixel vs its kept 4-neighbour in the original. */
  function borderStep(out: RgbaImage): number {
    let sum = 0;
    let n = 0;
    for (let y = box.y; y < box.y + box.height; y++)
      for (let x = box.x; x < box.x + box.width; x++)
        for (const [dx, dy] of [
          [1, 0],
          [-1, 0],
          [0, 1],
          [0, -1],
        ]) {
          if (inBox(x + dx, y + dy)) continue;
          const a = px(out, x, y);
          const b = px(ORIGINAL, x + dx, y + dy);
          sum += a.reduce((t, v, c) => t + Math.abs(v - b[c]), 0) / 3;
          n++;
        }
    return sum / n;
  }

  it("off by default: the fill is the stand-in's flat colour, only hole pixels change", async () => {
    const plain = tally(await decoded(await inpaint(rect)), inBox);
    expect(plain).toEqual({ filled: box.width * box.height, changedOutside: 0 });
    const bad = await inpaint(rect, { grain: "3" });
    expect(bad.status).toBe(400);
  });

  it("feather=3: weight depth/3 inside the hole's edge, the fill itself from depth 3 on", async () => {
    const out = await decoded(await inpaint(rect, { feather: "3" }));
    const t = tally(out, inBox);
    expect(t.changedOutside).toBe(0);
    expect(t.filled).toBe((box.width - 4) * (box.height - 4)); // depth >= 3: untouched fill
    for (let y = box.y; y < box.y + box.height; y++)
      for (let x = box.x; x < box.x + box.width; x++) {
        const a = Math.min(1, depth(x, y) / 3);
        const o = px(ORIGINAL, x, y);
        const want = FILL.map((f, c) => a * f + (1 - a) * o[c]);
        const got = px(out, x, y);
        for (let c = 0; c < 3; c++) expect(Math.abs(got[c] - want[c]), `(${x},${y}) c${c}`).toBeLessThanOrEqual(1);
      }
  });

  it("seam_blend: the colour step at the hole's border mostly vanishes", async () => {
    const plain = await decoded(await inpaint(rect));
    const out = await decoded(await inpaint(rect, { seam_blend: "true" }));
    expect(tally(out, inBox).changedOutside).toBe(0);
    const [before, after] = [borderStep(plain), borderStep(out)];
    expect(before).toBeGreaterThan(30); // the flat fill against the photo
    expect(after).toBeLessThan(before / 4);
  });

  it("grain=1: the hole gets the noise level of the kept pixels around it", async () => {
    const plain = await decoded(await inpaint(rect));
    const out = await decoded(await inpaint(rect, { grain: "1" }));
    expect(tally(out, inBox).changedOutside).toBe(0);
    const around = noiseSigma(ORIGINAL, { x: 0, y: 0 }, whole, mask, 0) as number[];
    expect(around.every((s) => s > 2)).toBe(true); // the seeded noise of the test photo
    expect(noiseSigma(plain, { x: 0, y: 0 }, whole, mask, 1)).toEqual([0, 0, 0]);
    const inHole = noiseSigma(out, { x: 0, y: 0 }, whole, mask, 1) as number[];
    for (let c = 0; c < 3; c++) {
      expect(inHole[c] / around[c], `channel ${c}`).toBeGreaterThan(0.6);
      expect(inHole[c] / around[c], `channel ${c}`).toBeLessThan(1.6);
    }
  });
});

describe("texture per request", () => {
  const box = { x: 12, y: 9, width: 14, height: 11 };
  const inBox = (x: number, y: number) => x >= box.x && x < box.x + box.width && y >= box.y && y < box.y + box.height;
  const rect = json({ shapes: [{ type: "rect", ...box }] });
  const mask: Mask = { width: W, height: H, data: new Uint8Array(W * H) };
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) mask.data[y * W + x] = inBox(x, y) ? 1 : 0;

  it("texture=on: the stand-in's flat fill gets the photo's stripes, the same bytes twice, only hole pixels change", async () => {
    // Vertical stripes (period 6, +-25) over the test photo, with a little seeded noise.
    const striped = noisy();
    for (let i = 0; i < W * H; i++) for (let c = 0; c < 3; c++) striped.data[i * 4 + c] += (i % W) % 6 < 3 ? 25 : -25;
    const [plain, a, b] = [
      await inpaint(rect, {}, {}, striped),
      await inpaint(rect, { texture: "on" }, {}, striped),
      await inpaint(rect, { texture: "on" }, {}, striped),
    ];
    expect([plain.status, a.status, b.status]).toEqual([200, 200, 200]);
    const [ab, bb] = [new Uint8Array(await a.arrayBuffer()), new Uint8Array(await b.arrayBuffer())];
    expect(ab.length === bb.length && ab.every((v, i) => v === bb[i])).toBe(true);
    const out = await decodeUpload(ab, inspectUpload(ab, "image", uploadLimits({}), ["png"]), "image");
    let changedOutside = 0;
    for (let i = 0; i < W * H; i++)
      if (!mask.data[i]) for (let c = 0; c < 4; c++) changedOutside += out.data[i * 4 + c] === striped.data[i * 4 + c] ? 0 : 1;
    expect(changedOutside).toBe(0);
    const around = detail(striped, 0);
    expect(around).toBeGreaterThan(10);
    expect(detail(await decoded(plain), 1)).toBe(0); // the stand-in's flat colour
    const inHole = detail(out, 1);
    expect(inHole / around).toBeGreaterThan(0.6);
    expect(inHole / around).toBeLessThan(1.4);
    expect((await inpaint(rect, { texture: "sometimes" })).status).toBe(400);
  });

  /** RMS of each pixel minus its 3x3 mean, over the pixels whose 3x3 window is all `hole` (1) or all kept (0). */
  function detail(img: RgbaImage, hole: 0 | 1): number {
    let sum = 0;
    let n = 0;
    for (let y = 1; y < H - 1; y++)
      for (let x = 1; x < W - 1; x++) {
        let all = true;
        for (let k = 0; k < 9; k++) all &&= mask.data[(y + Math.floor(k / 3) - 1) * W + x + (k % 3) - 1] === hole;
        if (!all) continue;
        for (let c = 0; c < 3; c++) {
          let m = 0;
          for (let k = 0; k < 9; k++) m += img.data[((y + Math.floor(k / 3) - 1) * W + x + (k % 3) - 1) * 4 + c];
          sum += (img.data[(y * W + x) * 4 + c] - m / 9) ** 2;
          n++;
        }
      }
    return Math.sqrt(sum / n);
  }

  it("texture=on over the work bound: 422 mask-too-large naming the plugin, before the model runs, uncharged", async () => {
    const a = await newAccount(20, "texture");
    const before = await footprint(a.id);
    const png = (await encodeImage(photo(900, 900), "png", 90)) as Uint8Array<ArrayBuffer>;
    // A GPU whose only slot is taken: a request that reaches the model is a 503 gpu-busy.
    const send = (texture: string) => {
      const f = new FormData();
      f.append("image", new Blob([png]), "image.png");
      f.append("mask", json({ shapes: [{ type: "rect", x: 130, y: 130, width: 640, height: 640 }] }), "mask.json");
      f.append("texture", texture);
      const init = { method: "POST", body: f, headers: { ...a.headers, "Cache-Control": "no-store" } };
      return call("/v1/inpaint", init, { GPU_URL: `${testEnv.STAND_IN_URL}/busy` });
    };
    const doc = await expectProblem(await send("on"), 422, "mask-too-large");
    expect(doc).toMatchObject({ plugin: "texture", hole_pixels: 640 * 640, max_work: MAX_POST_WORK });
    expect(doc.detail).toMatch(/texture=auto/);
    expect(await footprint(a.id)).toEqual(before);
    // texture=auto does not refuse it (that fill would be left as the model made it): on to the model.
    await expectProblem(await send("auto"), 503, "gpu-busy");
    expect(await footprint(a.id)).toEqual(before);
  });
});

describe("the fallback backend", () => {
  it("serves from the secondary when the primary is down, and says so in X-Gpu-Backend", async () => {
    const env = { GPU_BACKEND: "fallback", GPU_URL: testEnv.DEAD_GPU_URL, GPU_SECONDARY_URL: `${testEnv.STAND_IN_URL}/ok` };
    const res = await inpaint(json({ shapes: [{ type: "rect", x: 2, y: 2, width: 5, height: 5 }] }), {}, env);
    expect(res.status).toBe(200);
    expect(res.headers.get("x-gpu-backend")).toBe("secondary:http");
    const direct = await inpaint(json({ shapes: [{ type: "rect", x: 2, y: 2, width: 5, height: 5 }] }));
    expect(direct.headers.get("x-gpu-backend")).toBe("http");
  });

  it("a bad plugin setting is refused with the plugin and the field named, on every route that loads plugins", async () => {
    const env = { GPU_BACKEND: "fallback", GPU_BREAKER_FAILURES: "many" };
    for (const res of [await call("/v1/plugins", {}, env), await inpaint(json({ shapes: [] }), {}, env)]) {
      expect(res.status).toBe(500);
      const p = (await res.json()) as { type: string; detail: string; plugin: string; field: string };
      expect(p.type).toMatch(/plugin-config$/);
      expect(p).toMatchObject({ plugin: "fallback", field: "GPU_BREAKER_FAILURES" });
      expect(p.detail).toMatch(/^plugin fallback \(inference\): GPU_BREAKER_FAILURES: /);
    }
  });
});

describe("webhook sources on POST /v1/hooks/{integration}", () => {
  const admin = (body: unknown) =>
    call("/v1/admin/integrations", {
      method: "POST",
      headers: { Authorization: `Bearer ${testEnv.ADMIN_TOKEN}`, "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });

  async function account() {
    const res = await call("/v1/admin/accounts", {
      method: "POST",
      headers: { Authorization: `Bearer ${testEnv.ADMIN_TOKEN}`, "Content-Type": "application/json" },
      body: JSON.stringify({ name: "hooks", credits: 5 }),
    });
    return ((await res.json()) as { account: { id: string } }).account.id;
  }

  it("github: we issue the secret; a signed repository_dispatch creates a job, a ping is ignored, a replay refused", async () => {
    const created = await admin({ name: "ci-github", account_id: await account(), source: "github" });
    expect(created.status).toBe(201);
    const { secret, source } = (await created.json()) as { secret: string; source: string };
    expect(source).toBe("github");
    const gh = githubWebhooks().setup({}, undefined as never) as Awaited<ReturnType<ReturnType<typeof githubWebhooks>["setup"]>>;
    await fetch(`${testEnv.RECEIVER_URL}/files/gh.png`, { method: "PUT", body: await encodeImage(photo(W, H), "png", 90) });
    const body = JSON.stringify({
      event_type: "inpaint",
      client_payload: {
        image_url: `${testEnv.RECEIVER_URL}/files/gh.png`,
        mask_shapes: { shapes: [{ type: "rect", x: 1, y: 1, width: 4, height: 4 }] },
      },
    });
    const send = async (b: string, id: string, event = "repository_dispatch") =>
      call("/v1/hooks/ci-github", {
        method: "POST",
        body: b,
        headers: { ...(await gh.sign(secret, b, { nowS: 0, id })), "x-github-event": event },
      });
    const ok = await send(body, "d-1");
    expect(ok.status).toBe(202);
    expect(((await ok.json()) as { source: string }).source).toBe("hook:ci-github");
    expect((await send(body, "d-1")).status).toBe(409);
    const ping = await send('{"zen":"Design for failure."}', "d-2", "ping");
    expect(ping.status).toBe(200);
    expect(await ping.json()).toEqual({ ignored: "ping" });
    const forged = await call("/v1/hooks/ci-github", {
      method: "POST",
      body,
      headers: { ...(await gh.sign("not-the-secret-at-all", body, { nowS: 0, id: "d-3" })) },
    });
    expect(forged.status).toBe(401);
  });

  it("cloudinary: the API secret must be given; a notification without a mask is ignored", async () => {
    const id = await account();
    const missing = await admin({ name: "media-cld", account_id: id, source: "cloudinary" });
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { field: string }).field).toBe("secret");
    const created = await admin({ name: "media-cld", account_id: id, source: "cloudinary", secret: "cld-api-secret-0123456789" });
    expect(created.status).toBe(201);
    expect((await created.json()) as object).not.toHaveProperty("secret"); // theirs: never echoed
    const body = JSON.stringify({
      notification_type: "upload",
      resource_type: "image",
      secure_url: "https://res.cloudinary.com/x.jpg",
    });
    const ts = String(Math.floor(Date.now() / 1000));
    const digest = new Uint8Array(
      await crypto.subtle.digest("SHA-1", new TextEncoder().encode(`${body}${ts}cld-api-secret-0123456789`)),
    );
    const sig = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
    const res = await call("/v1/hooks/media-cld", {
      method: "POST",
      body,
      headers: { "X-Cld-Signature": sig, "X-Cld-Timestamp": ts },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ignored: expect.stringMatching(/gmcnn_mask_url/) });
  });

  it("an unknown source is refused when the integration is created", async () => {
    const res = await admin({ name: "nope-src", account_id: await account(), source: "smoke-signals" });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { detail: string }).detail).toMatch(/standard-webhooks, github, cloudinary/);
  });
});
