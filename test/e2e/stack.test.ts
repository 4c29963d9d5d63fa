/**
 * End to end: the real stack (scripts/stack.ts: wrangler dev + the GPU function server with the
 * shipped model) on free ports, real images over HTTP. Small images keep the model's CPU time
 * low; the 2048x1536 JPEG uses hd_strategy crop so the model sees only the hole's surroundings.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeImage, encodeImage } from "../../gpu-jobs/codecs.ts";
import { ROOT, type Stack, startStack } from "../../scripts/stack.ts";
import { rasterizeShapes } from "../../shared/imaging/rasterize.ts";
import type { RgbaImage } from "../../shared/imaging/types.ts";
import type { MaskShapes } from "../../shared/schemas/shapes.ts";
import { send } from "./http.ts";
import { type Box, inBox, inpaintForm, maskImage, photo, pngHeaderOnly } from "./images.ts";

let stack: Stack;
let persist: string;
const logs: string[] = [];

beforeAll(async () => {
  persist = mkdtempSync(join(tmpdir(), "gmcnn-e2e-"));
  stack = await startStack({
    persistTo: persist,
    gpuEnv: { GMCNN_LOG: "0" },
    // 12 MP for the 4000x3000 test: above the deployed 8 MP (128 MB isolate, docs/api.md);
    // local workerd enforces no memory limit.
    vars: { MAX_MEGAPIXELS: "12" },
    log: (src, line) => logs.push(`[${src}] ${line}`),
  });
}, 300_000);

afterAll(async () => {
  await stack?.stop();
  rmSync(persist, { recursive: true, force: true });
});

const post = (body: FormData, headers: Record<string, string> = { Authorization: `Bearer ${stack.apiKey}` }) =>
  send(`${stack.edgeUrl}/v1/inpaint`, { body, headers });

async function decoded(res: Response): Promise<RgbaImage> {
  return (await decodeImage(new Uint8Array(await res.arrayBuffer()), "response")).image;
}

/** Pixels outside `box` whose RGBA differs between a and b. */
function changedOutside(a: RgbaImage, b: RgbaImage, box: Box): number {
  let n = 0;
  for (let y = 0; y < a.height; y++)
    for (let x = 0; x < a.width; x++) {
      if (inBox(x, y, box)) continue;
      const i = (y * a.width + x) * 4;
      if (
        a.data[i] !== b.data[i] ||
        a.data[i + 1] !== b.data[i + 1] ||
        a.data[i + 2] !== b.data[i + 2] ||
        a.data[i + 3] !== b.data[i + 3]
      )
        n++;
    }
  return n;
}

async function problem(res: Response, status: number, kind: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  const doc = (await res.json()) as Record<string, unknown>;
  expect(doc.type).toBe(`https://gmcnn-edge.dev/problems/${kind}`);
  expect(doc.status).toBe(status);
  return doc;
}

describe("inpainting through the local stack", () => {
  const box = { x: 140, y: 100, width: 36, height: 28 };

  it("PNG: same size, alpha kept, every unmasked pixel identical", async () => {
    const img = photo(320, 240, (x, y) => (x < 40 && y < 40 ? 128 : 255));
    const res = await post(inpaintForm(await encodeImage(img, "png"), await encodeImage(maskImage(320, 240, box), "png")));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/png");
    expect(res.headers.get("x-request-id")).toBeTruthy();
    expect(res.headers.get("x-model")).toMatch(/^gmcnn@/);
    const out = await decoded(res);
    expect([out.width, out.height]).toEqual([320, 240]);
    expect(changedOutside(out, img, box)).toBe(0);
  });

  it("JPEG in, JPEG out: same size, unmasked pixels within JPEG tolerance", async () => {
    const img = photo(320, 240);
    const jpg = await encodeImage(img, "jpeg", 90);
    const res = await post(inpaintForm(jpg, await encodeImage(maskImage(320, 240, box), "png")));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/jpeg");
    const out = await decoded(res);
    const input = (await decodeImage(jpg, "input")).image;
    expect([out.width, out.height]).toEqual([320, 240]);
    // Re-encoding at quality 90 moves the unmasked pixels by a few levels, no more.
    let sum = 0;
    let n = 0;
    for (let y = 0; y < 240; y++)
      for (let x = 0; x < 320; x++) {
        if (inBox(x, y, box)) continue;
        const i = (y * 320 + x) * 4;
        for (let c = 0; c < 3; c++) sum += Math.abs(out.data[i + c] - input.data[i + c]);
        n += 3;
      }
    expect(sum / n).toBeLessThan(3);
  });

  it("2048x1536 JPEG with a small hole, PNG out: same size, every unmasked pixel identical", async () => {
    const big = { x: 1400, y: 900, width: 48, height: 40 };
    const jpg = await encodeImage(photo(2048, 1536), "jpeg", 90);
    const t = performance.now();
    const res = await post(
      inpaintForm(jpg, await encodeImage(maskImage(2048, 1536, big), "png"), { hd_strategy: "crop", output_format: "png" }),
    );
    expect(res.status).toBe(200);
    expect(res.headers.get("x-inpaint-regions")).toBe("1");
    const out = await decoded(res);
    expect([out.width, out.height]).toEqual([2048, 1536]);
    expect(changedOutside(out, (await decodeImage(jpg, "input")).image, big)).toBe(0);
    console.log(`2048x1536 JPEG -> PNG: ${Math.round(performance.now() - t)} ms; ${res.headers.get("server-timing")}`);
  });

  it("WebP in, WebP out (the codec bundled by wrangler)", async () => {
    const webp = await encodeImage(photo(96, 64), "webp", 90);
    const res = await post(
      inpaintForm(webp, await encodeImage(maskImage(96, 64, { x: 30, y: 20, width: 12, height: 10 }), "png")),
    );
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/webp");
    const out = await decoded(res);
    expect([out.width, out.height]).toEqual([96, 64]);
  });

  it("an empty mask returns the upload unchanged, byte for byte", async () => {
    const png = await encodeImage(photo(64, 48), "png");
    const res = await post(inpaintForm(png, await encodeImage(maskImage(64, 48), "png")));
    expect(res.status).toBe(200);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(png);
  });

  it("the README's curl example, as written there, returns an inpainted PNG", async () => {
    // The command is read from README.md; only its host:port becomes this stack's. It runs in a
    // folder that has the repository's examples/ and a .wrangler/dev-api-key with this stack's key,
    // so `$(cat .wrangler/dev-api-key)`, the relative paths and `--create-dirs -o` work unchanged.
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)]
      .map((m) => m[1])
      .filter((b) => /^curl\b/m.test(b) && b.includes("/v1/inpaint"));
    expect(blocks, "README.md has a ```sh block with the curl call to /v1/inpaint").toHaveLength(1);
    const cmd = blocks[0];
    expect(cmd).toContain("http://127.0.0.1:8787/v1/inpaint");
    const files = [...cmd.matchAll(/(image|mask)=@(\S+)/g)].map((m) => [m[1], m[2]]);
    expect(files.map(([k]) => k)).toEqual(["image", "mask"]);
    const outArg = cmd.match(/-o\s+(\S+)/)?.[1];
    expect(outArg).toBeDefined();
    const dir = mkdtempSync(join(persist, "readme-"));
    symlinkSync(join(ROOT, "examples"), join(dir, "examples"));
    mkdirSync(join(dir, ".wrangler"));
    writeFileSync(join(dir, ".wrangler", "dev-api-key"), `${stack.apiKey}\n`);
    execFileSync("bash", ["-euo", "pipefail", "-c", cmd.replaceAll("http://127.0.0.1:8787", stack.edgeUrl)], { cwd: dir });
    const [image, mask] = await Promise.all(files.map(async ([, f]) => (await decodeImage(readFileSync(join(dir, f)), f)).image));
    const result = (await decodeImage(readFileSync(join(dir, outArg as string)), "output")).image;
    expect([result.width, result.height]).toEqual([image.width, image.height]);
    // Inpainted: the hole changed, every pixel outside it is the input's.
    let changedIn = 0;
    let changedOut = 0;
    for (let i = 0; i < image.width * image.height; i++) {
      const differs = [0, 1, 2].some((c) => result.data[i * 4 + c] !== image.data[i * 4 + c]);
      if (mask.data[i * 4] > 127) changedIn += differs ? 1 : 0;
      else changedOut += differs ? 1 : 0;
    }
    expect(changedOut).toBe(0);
    expect(changedIn).toBeGreaterThan(0);
  });
});

describe("a 4000x3000 phone photo with two thin strokes", () => {
  const shapes: MaskShapes = {
    shapes: [
      {
        type: "stroke",
        points: [
          [600, 500],
          [900, 560],
          [1100, 540],
        ],
        width: 8,
      },
      {
        type: "stroke",
        points: [
          [3200, 2400],
          [3350, 2300],
        ],
        width: 10,
      },
    ],
  };

  it("upload once, inpaint by id with crop (two small GPU regions), then a cache hit", async () => {
    const jpg = await encodeImage(photo(4000, 3000), "jpeg", 90);
    const up = new FormData();
    up.append("file", new Blob([jpg as Uint8Array<ArrayBuffer>]), "photo.jpg");
    const auth = { Authorization: `Bearer ${stack.apiKey}` };
    const stored = await send(`${stack.edgeUrl}/v1/uploads`, { body: up, headers: auth });
    expect(stored.status).toBe(201);
    const info = (await stored.json()) as { id: string; width: number; height: number };
    expect([info.width, info.height]).toEqual([4000, 3000]);

    const form = () => {
      const f = new FormData();
      f.append("image_id", info.id);
      f.append("mask_shapes", JSON.stringify(shapes));
      f.append("output_format", "png");
      return f;
    };
    const t = performance.now();
    const res = await send(`${stack.edgeUrl}/v1/inpaint`, { body: form(), headers: auth });
    const ms = Math.round(performance.now() - t);
    expect(res.status).toBe(200);
    expect(res.headers.get("x-inpaint-regions")).toBe("2");
    expect(res.headers.get("x-cache")).toBe("MISS");
    const out = await decoded(res);
    expect([out.width, out.height]).toEqual([4000, 3000]);
    // Every pixel outside the strokes is the decoded input's.
    const input = (await decodeImage(jpg, "input")).image;
    const mask = rasterizeShapes(shapes.shapes, 4000, 3000);
    let outside = 0;
    let inside = 0;
    for (let i = 0; i < mask.data.length; i++) {
      const same =
        out.data[i * 4] === input.data[i * 4] &&
        out.data[i * 4 + 1] === input.data[i * 4 + 1] &&
        out.data[i * 4 + 2] === input.data[i * 4 + 2];
      if (mask.data[i]) inside += +!same;
      else outside += +!same;
    }
    expect(outside).toBe(0);
    expect(inside).toBeGreaterThan(0);
    console.log(`4000x3000 JPEG, two strokes, crop -> PNG: ${ms} ms; ${res.headers.get("server-timing")}`);

    const again = await send(`${stack.edgeUrl}/v1/inpaint`, { body: form(), headers: auth });
    expect(again.status).toBe(200);
    expect(again.headers.get("x-cache")).toBe("HIT");
    expect(again.headers.get("etag")).toBe(res.headers.get("etag"));
  }, 120_000);
});

/** An account with `credits` made through the admin API; the Authorization header of its key. */
async function newAccountKey(name: string, credits: number) {
  const created = await send(`${stack.edgeUrl}/v1/admin/accounts`, {
    body: JSON.stringify({ name, credits }),
    headers: { Authorization: `Bearer ${stack.adminToken}`, "Content-Type": "application/json" },
  });
  expect(created.status).toBe(201);
  const { api_key } = (await created.json()) as { api_key: string };
  return { Authorization: `Bearer ${api_key}` };
}

describe("accounts and billing through the local stack", () => {
  it("the admin creates an account with a key; one call is charged once", async () => {
    const key = await newAccountKey("e2e", 3);
    const image = await encodeImage(photo(32, 24), "png");
    // Not the mask of the error tests below: their 503 test must not find this result cached.
    const mask = await encodeImage(maskImage(32, 24, { x: 14, y: 9, width: 5, height: 5 }), "png");
    const res = await post(inpaintForm(image, mask), key);
    expect(res.status).toBe(200);
    expect([res.headers.get("x-credits-charged"), res.headers.get("x-credits-remaining")]).toEqual(["1", "2"]);
    const usage = (await (await send(`${stack.edgeUrl}/v1/usage`, { headers: key })).json()) as {
      credits_remaining: number;
      entries: { kind: string; delta: number }[];
    };
    expect(usage.credits_remaining).toBe(2);
    expect(usage.entries.map((e) => [e.kind, e.delta])).toEqual([
      ["inpaint", -1],
      ["grant", 3],
    ]);
  });
});

describe("an async job with a signed webhook through the local stack", () => {
  it("account and key from the admin API, job with a webhook to 127.0.0.1, verified delivery, result, one charge", async () => {
    // The receiver: a plain Node server on 127.0.0.1 recording what it is sent.
    const got: { headers: Record<string, string>; body: string }[] = [];
    const receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        got.push({ headers: req.headers as Record<string, string>, body: Buffer.concat(chunks).toString("utf8") });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
    const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    try {
      const key = await newAccountKey("e2e-jobs", 5);
      const image = await encodeImage(photo(40, 32), "png");
      const f = inpaintForm(image, await encodeImage(maskImage(40, 32, { x: 12, y: 10, width: 8, height: 6 }), "png"));
      f.append("webhook", hook);
      const res = await send(`${stack.edgeUrl}/v1/jobs`, { body: f, headers: key });
      expect(res.status).toBe(202);
      const job = (await res.json()) as { id: string; status: string };
      // The webhook arrives when the job completes (the queue consumer runs inside wrangler dev).
      const deadline = Date.now() + 120_000;
      while (got.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
      expect(got).toHaveLength(1);
      const { key: secret } = (await (await send(`${stack.edgeUrl}/v1/webhooks/default/secret`, { headers: key })).json()) as {
        key: string;
      };
      const payload = new Webhook(secret).verify(got[0].body, got[0].headers) as {
        type: string;
        data: { id: string; status: string; credits_charged: number; output: { url: string } };
      };
      expect(payload.type).toBe("job.completed");
      expect(payload.data).toMatchObject({ id: job.id, status: "succeeded", credits_charged: 1 });
      // The signed result URL works without a key: same size, unmasked pixels unchanged.
      const out = await send(payload.data.output.url);
      expect(out.status).toBe(200);
      const img = await decoded(out);
      expect(changedOutside(img, photo(40, 32), { x: 12, y: 10, width: 8, height: 6 })).toBe(0);
      const usage = (await (await send(`${stack.edgeUrl}/v1/usage`, { headers: key })).json()) as {
        credits_remaining: number;
        entries: { kind: string; delta: number }[];
      };
      expect(usage.credits_remaining).toBe(4);
      expect(usage.entries.filter((e) => e.delta < 0)).toEqual([expect.objectContaining({ kind: "inpaint", delta: -1 })]);
    } finally {
      await new Promise<void>((r) => receiver.close(() => r()));
    }
  }, 180_000);
});

describe("plugins through the local stack (npm start)", () => {
  it("the example plugin (examples/plugins/watermark-mask, listed in gmcnn.config.ts) masks a corner watermark", async () => {
    const listed = (await (await fetch(`${stack.edgeUrl}/v1/plugins`)).json()) as { plugins: { name: string; kind: string }[] };
    expect(listed.plugins).toContainEqual(expect.objectContaining({ name: "watermark-corner", kind: "mask-source" }));
    const img = photo(160, 120);
    const f = inpaintForm(await encodeImage(img, "png"));
    const doc = { watermark: { corner: "bottom-right", width: 0.25, height: 0.2, inset: 0.05 } };
    f.append("mask", new Blob([JSON.stringify(doc)], { type: "application/json" }), "watermark.json");
    const res = await post(f);
    expect(res.status, await res.clone().text()).toBe(200);
    expect(res.headers.get("x-gpu-backend")).toBe("http");
    // 40x24 at 8 px from the right and 6 px from the bottom: x 112..151, y 90..113.
    const box = { x: 112, y: 90, width: 40, height: 24 };
    const out = await decoded(res);
    expect(changedOutside(out, img, box)).toBe(0);
    let changed = 0;
    for (let y = box.y; y < box.y + box.height; y++)
      for (let x = box.x; x < box.x + box.width; x++)
        changed += out.data[(y * 160 + x) * 4] !== img.data[(y * 160 + x) * 4] ? 1 : 0;
    expect(changed).toBeGreaterThan(box.width * box.height * 0.5);
  });

  it("a bad plugin setting stops the stack before it starts, naming the plugin and the field", async () => {
    await expect(startStack({ persistTo: persist, vars: { GPU_BACKEND: "fallback" }, log: () => {} })).rejects.toThrow(
      /plugin configuration: plugin fallback \(inference\): GPU_SECONDARY_URL/,
    );
  });
});

describe("every error class, from a real bad request", () => {
  const small = async () => ({
    image: await encodeImage(photo(32, 24), "png"),
    mask: await encodeImage(maskImage(32, 24, { x: 4, y: 4, width: 6, height: 6 }), "png"),
  });

  it("400 bad-request (no mask) and 400 invalid-options (with the issues)", async () => {
    const p = await small();
    await problem(await post(inpaintForm(p.image)), 400, "bad-request");
    const doc = await problem(await post(inpaintForm(p.image, p.mask, { dilate: "-3", hd: "crop" })), 400, "invalid-options");
    expect(Array.isArray(doc.issues)).toBe(true);
  });

  it("401 without a valid key", async () => {
    const p = await small();
    await problem(await post(inpaintForm(p.image, p.mask), {}), 401, "unauthorized");
    await problem(await post(inpaintForm(p.image, p.mask), { Authorization: "Bearer wrong" }), 401, "unauthorized");
  });

  it("413 for a 50000x50000 PNG header, from the header alone", async () => {
    // 33 bytes of signature and IHDR: a decode would fail as undecodable-image, so the 413 can
    // only come from the header.
    const bomb = pngHeaderOnly(50000, 50000);
    const doc = await problem(await post(inpaintForm(bomb, bomb)), 413, "image-too-large");
    expect(String(doc.detail)).toMatch(/50000x50000/);
  });

  it("413 for a file over the byte limit", async () => {
    const p = await small();
    const huge = new Uint8Array(21 * 1024 * 1024);
    huge.set(p.image);
    await problem(await post(inpaintForm(huge, p.mask)), 413, "payload-too-large");
  });

  it("415 for an image that is not PNG, JPEG or WebP", async () => {
    const p = await small();
    await problem(await post(inpaintForm(new TextEncoder().encode("GIF89a...."), p.mask)), 415, "unsupported-media-type");
  });

  it("422 for a mask of another size, and for an undecodable image", async () => {
    const p = await small();
    await problem(await post(inpaintForm(p.image, await encodeImage(maskImage(24, 32), "png"))), 422, "mask-mismatch");
    const corrupt = p.image.slice();
    corrupt.fill(3, 40, corrupt.length - 12);
    await problem(await post(inpaintForm(corrupt, p.mask)), 422, "undecodable-image");
  });

  it("503 gpu-unavailable with Retry-After once the GPU server is down", async () => {
    await stack.stopGpu();
    const p = await small();
    const res = await post(inpaintForm(p.image, p.mask));
    await problem(res, 503, "gpu-unavailable");
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
  });
});
