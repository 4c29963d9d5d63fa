/**
 * HD strategies, mask tools, alpha and EXIF through POST /v1/inpaint inside workerd, against the
 * GPU stand-in (hole pixels come back as FILL). Cache-Control: no-store keeps every request a
 * real pipeline run.
 */
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { withExifOrientation } from "../../shared/imaging/exif.ts";
import type { RgbaImage } from "../../shared/imaging/types.ts";
import { createApp } from "../../workers/app.ts";
import { decodeUpload, encodeImage, inspectUpload } from "../../workers/codecs.ts";
import { uploadLimits } from "../../workers/env.ts";
import { auth, boxMask, photo, testEnv } from "./helpers.ts";

const FILL = [12, 200, 99];
const noStore = { ...auth(), "Cache-Control": "no-store" };

function inpaintForm(image: Uint8Array, mask: Uint8Array | { shapes: unknown[] }, fields: Record<string, string> = {}) {
  const f = new FormData();
  f.append("image", new Blob([image as Uint8Array<ArrayBuffer>]), "image");
  if (mask instanceof Uint8Array) f.append("mask", new Blob([mask as Uint8Array<ArrayBuffer>]), "mask.png");
  else f.append("mask_shapes", JSON.stringify(mask));
  for (const [k, v] of Object.entries(fields)) f.append(k, v);
  return f;
}

const post = (body: FormData, headers = noStore) =>
  exports.default.fetch(new Request("http://edge/v1/inpaint", { method: "POST", body, headers }));
const app = createApp();
/** Through createApp() with some bindings overridden (another GPU stand-in). */
const postWith = (env: Record<string, string>, body: FormData, headers = noStore) =>
  app.request("/v1/inpaint", { method: "POST", body, headers }, { ...testEnv, ...env });

async function decoded(res: Response): Promise<RgbaImage> {
  const bytes = new Uint8Array(await res.arrayBuffer());
  return decodeUpload(
    bytes,
    inspectUpload(bytes, "image", uploadLimits({ MAX_MEGAPIXELS: "100" }), ["png", "jpeg", "webp"]),
    "image",
  );
}

/** The /sized stand-in's fill colour for a w x h image (sizeColour in node/gpu-stand-in.ts, a Node module). */
const sizeColour = (w: number, h: number) => [w % 256, Math.floor(w / 256), h % 256];
const px = (img: RgbaImage, x: number, y: number) => [0, 1, 2].map((c) => img.data[(y * img.width + x) * 4 + c]);

const isFill = (img: RgbaImage, x: number, y: number) => {
  const i = (y * img.width + x) * 4;
  return img.data[i] === FILL[0] && img.data[i + 1] === FILL[1] && img.data[i + 2] === FILL[2];
};

/** Pixels that differ from `ref`, as a count (RGBA). */
function changed(a: RgbaImage, ref: RgbaImage): number {
  let n = 0;
  for (let i = 0; i < a.data.length; i += 4)
    if (
      a.data[i] !== ref.data[i] ||
      a.data[i + 1] !== ref.data[i + 1] ||
      a.data[i + 2] !== ref.data[i + 2] ||
      a.data[i + 3] !== ref.data[i + 3]
    )
      n++;
  return n;
}

describe("HD strategies", () => {
  // 1600x1200 with two distant 6x6 scribbles: crop -> two regions of 262x262.
  const W = 1600;
  const H = 1200;
  const blobs = {
    shapes: [
      { type: "rect", x: 100, y: 100, width: 6, height: 6 },
      { type: "rect", x: 1400, y: 1000, width: 6, height: 6 },
    ],
  };

  it("crop: one region per scribble; exactly the hole pixels change", async () => {
    const img = photo(W, H);
    const res = await post(inpaintForm(await encodeImage(img, "png", 90), blobs));
    expect(res.status).toBe(200);
    expect(res.headers.get("x-inpaint-regions")).toBe("2");
    const out = await decoded(res);
    expect(changed(out, img)).toBe(72);
    expect(isFill(out, 100, 100) && isFill(out, 1405, 1005)).toBe(true);
  });

  it("crop below the trigger size, resize and original: one whole-image region", async () => {
    const img = await encodeImage(photo(W, H), "png", 90);
    for (const [strategy, extra] of [
      ["resize", {}],
      ["original", {}],
      ["crop", { hd_strategy_crop_trigger_size: "2000" }],
    ] as const) {
      const res = await post(inpaintForm(img, blobs, { hd_strategy: strategy, ...extra }));
      expect(res.status, strategy).toBe(200);
      expect(res.headers.get("x-inpaint-regions"), strategy).toBe("1");
      const out = await decoded(res);
      expect(isFill(out, 102, 102), strategy).toBe(true);
    }
  });

  it("resize: the hole is filled at work size and scaled back; pixels outside the mask stay exact", async () => {
    const src = photo(W, H);
    const png = await encodeImage(src, "png", 90);
    const holes = blobs.shapes.flatMap((b) =>
      Array.from({ length: b.width * b.height }, (_, i) => [b.x + (i % b.width), b.y + Math.floor(i / b.width)]),
    );
    // The /sized stand-in fills with a colour that spells the size of the image it was sent.
    for (const [fields, size] of [
      [{ hd_strategy: "original" }, [1600, 1200]],
      [{ hd_strategy: "resize" }, [1280, 960]], // the default limit, 1280
      [{ hd_strategy: "resize", hd_strategy_resize_limit: "400" }, [400, 300]],
    ] as const) {
      const what = JSON.stringify(fields);
      const res = await postWith({ GPU_URL: `${testEnv.STAND_IN_URL}/sized` }, inpaintForm(png, blobs, fields));
      expect(res.status, what).toBe(200);
      expect(res.headers.get("x-inpaint-regions"), what).toBe("1");
      const out = await decoded(res);
      const colour = sizeColour(size[0], size[1]);
      const seen = new Set(holes.map(([x, y]) => px(out, x, y).join(",")));
      expect([...seen], what).toEqual([colour.join(",")]);
      expect(changed(out, src), what).toBe(72); // the composite touches only the mask
    }
  });
});

describe("masks", () => {
  it("a 10-px-wide stroke covers the pixels within 5 px of its line, nothing else", async () => {
    const img = photo(120, 80);
    const stroke = {
      shapes: [
        {
          type: "stroke",
          points: [
            [20, 40],
            [100, 40],
          ],
          width: 10,
        },
      ],
    };
    const out = await decoded(await post(inpaintForm(await encodeImage(img, "png", 90), stroke)));
    for (let y = 30; y < 50; y++) expect(isFill(out, 60, y), `row ${y}`).toBe(y >= 35 && y <= 44);
    expect(isFill(out, 15, 40) && !isFill(out, 14, 40) && isFill(out, 104, 40) && !isFill(out, 105, 40)).toBe(true);
  });

  it("rect and polygon shapes, with dilate", async () => {
    const img = photo(60, 40);
    const shapes = {
      shapes: [
        { type: "rect", x: 5, y: 5, width: 4, height: 4 },
        {
          type: "polygon",
          points: [
            [30, 10],
            [40, 10],
            [40, 20],
            [30, 20],
          ],
        },
      ],
    };
    const out = await decoded(await post(inpaintForm(await encodeImage(img, "png", 90), shapes, { dilate: "2" })));
    expect(isFill(out, 5, 5) && isFill(out, 35, 15) && isFill(out, 3, 6) && !isFill(out, 2, 6)).toBe(true);
  });

  it("mask_source=alpha: transparent mask pixels are holes; invert_mask flips", async () => {
    const img = photo(40, 30);
    const m = boxMask(40, 30);
    for (let i = 0; i < 40 * 30; i++) m.data[i * 4 + 3] = i % 40 < 5 ? 0 : 255;
    const mask = await encodeImage(m, "png", 90);
    const out = await decoded(await post(inpaintForm(await encodeImage(img, "png", 90), mask, { mask_source: "alpha" })));
    expect(isFill(out, 2, 10) && !isFill(out, 6, 10)).toBe(true);
    const small = { shapes: [{ type: "rect", x: 0, y: 0, width: 40, height: 20 }] };
    const inv = await decoded(await post(inpaintForm(await encodeImage(img, "png", 90), small, { invert_mask: "true" })));
    expect(!isFill(inv, 2, 10) && isFill(inv, 2, 25)).toBe(true);
  });

  it("a mask of another size: 422 mask-mismatch, or scaled with mask_resize", async () => {
    const img = await encodeImage(photo(64, 48), "png", 90);
    const half = await encodeImage(boxMask(32, 24, { x: 4, y: 4, width: 4, height: 4 }), "png", 90);
    const refused = await post(inpaintForm(img, half));
    expect(refused.status).toBe(422);
    expect(((await refused.json()) as { type: string }).type).toMatch(/mask-mismatch$/);
    const out = await decoded(await post(inpaintForm(img, half, { mask_resize: "true" })));
    expect(isFill(out, 9, 9) && isFill(out, 15, 15) && !isFill(out, 20, 20)).toBe(true);
  });

  it("a mask over the configured share (60%) is refused with a problem that says why", async () => {
    const img = await encodeImage(photo(40, 30), "png", 90);
    const res = await post(inpaintForm(img, { shapes: [{ type: "rect", x: 0, y: 0, width: 30, height: 30 }] }));
    expect(res.status).toBe(422);
    const doc = (await res.json()) as Record<string, unknown>;
    expect(doc).toMatchObject({ type: "https://gmcnn-edge.dev/problems/mask-too-large", coverage: 0.75, max_ratio: 0.6 });
    expect(String(doc.detail)).toMatch(/75\.0% .* limit is 60%/);
  });

  it("an empty shapes mask returns the input unchanged, without a GPU call", async () => {
    const img = await encodeImage(photo(40, 30), "png", 90);
    const res = await post(inpaintForm(img, { shapes: [{ type: "rect", x: 100, y: 100, width: 5, height: 5 }] }));
    expect(res.status).toBe(200);
    expect(res.headers.get("x-inpaint-regions")).toBe("0");
    expect(res.headers.get("x-cache")).toBe("BYPASS");
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(img);
  });

  it("mask_shapes takes the bare array as well as the document: the same image either way", async () => {
    const img = await encodeImage(photo(40, 30), "png", 90);
    const list = [{ type: "rect", x: 5, y: 6, width: 10, height: 8 }];
    const doc = await post(inpaintForm(img, { shapes: list }));
    const f = inpaintForm(img, { shapes: [] });
    f.set("mask_shapes", JSON.stringify(list));
    const bare = await post(f);
    expect([doc.status, bare.status]).toEqual([200, 200]);
    expect(bare.headers.get("x-inpaint-regions")).toBe("1");
    expect(new Uint8Array(await bare.arrayBuffer())).toEqual(new Uint8Array(await doc.arrayBuffer()));
    const bad = inpaintForm(img, { shapes: [] });
    bad.set("mask_shapes", JSON.stringify([{ type: "rect", x: 1, y: 1, width: -1, height: 2 }]));
    const res = await post(bad);
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toContain("mask_shapes.0.width");
  });

  it("bad shapes: 400 invalid-options naming the field", async () => {
    const img = await encodeImage(photo(20, 20), "png", 90);
    const res = await post(inpaintForm(img, { shapes: [{ type: "stroke", points: [[1, 2]], width: -3 }] }));
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toContain("mask_shapes.shapes.0.width");
  });
});

describe("alpha and EXIF", () => {
  it("PNG alpha is preserved through the round trip", async () => {
    const img = photo(48, 40, (x, y) => (x * 5 + y) % 256);
    const out = await decoded(
      await post(
        inpaintForm(await encodeImage(img, "png", 90), { shapes: [{ type: "rect", x: 10, y: 10, width: 8, height: 8 }] }),
      ),
    );
    for (let i = 3; i < img.data.length; i += 4) expect(out.data[i]).toBe(img.data[i]);
  });

  it("EXIF orientation 6 (90 degrees clockwise) is applied; shapes are in the stored grid", async () => {
    const stored = photo(64, 32); // stored landscape, displayed portrait 32x64
    const jpeg = withExifOrientation(await encodeImage(stored, "jpeg", 95), 6);
    // Stored pixel (50, 4) lands at upright (32 - 1 - 4, 50) = (27, 50).
    const res = await post(
      inpaintForm(jpeg, { shapes: [{ type: "rect", x: 50, y: 4, width: 1, height: 1 }] }, { output_format: "png" }),
    );
    expect(res.status).toBe(200);
    const out = await decoded(res);
    expect([out.width, out.height]).toEqual([32, 64]);
    expect(isFill(out, 27, 50)).toBe(true);
    expect(isFill(out, 4, 50)).toBe(false);
  });
});
