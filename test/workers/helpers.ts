/** Test images and requests, built inside workerd with the Worker's own codecs. */
import { env, exports } from "cloudflare:workers";
import { expect } from "vitest";
import { newImage, type RgbaImage } from "../../shared/imaging/types.ts";
import type { Bindings } from "../../workers/env.ts";

/** The bindings test/workers/vitest.config.ts adds to wrangler.toml's. */
export type TestEnv = Bindings & {
  DEAD_GPU_URL: string;
  STAND_IN_URL: string;
  RECEIVER_URL: string;
  TEST_API_KEY: string;
  ADMIN_TOKEN: string;
};
export const testEnv = env as unknown as TestEnv;

/** A smooth, textured, deterministic picture (alpha 255 unless `alpha` is given). */
export function photo(width: number, height: number, alpha?: (x: number, y: number) => number): RgbaImage {
  const img = newImage(width, height);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * 4;
      img.data[p] = (x * 255) / width;
      img.data[p + 1] = (y * 255) / height;
      img.data[p + 2] = 128 + 60 * Math.sin(x / 7) * Math.cos(y / 5);
      img.data[p + 3] = alpha ? alpha(x, y) : 255;
    }
  return img;
}

/** A mask image: white (hole) inside the box, black elsewhere. */
export function boxMask(width: number, height: number, box?: { x: number; y: number; width: number; height: number }): RgbaImage {
  const img = newImage(width, height);
  for (let i = 0; i < width * height; i++) img.data[i * 4 + 3] = 255;
  if (box)
    for (let y = box.y; y < box.y + box.height; y++)
      for (let x = box.x; x < box.x + box.width; x++) img.data.fill(255, (y * width + x) * 4, (y * width + x) * 4 + 3);
  return img;
}

export function form(image: Uint8Array, mask: Uint8Array | undefined, fields: Record<string, string> = {}): FormData {
  const f = new FormData();
  f.append("image", new Blob([image as Uint8Array<ArrayBuffer>]), "image");
  if (mask) f.append("mask", new Blob([mask as Uint8Array<ArrayBuffer>]), "mask.png");
  for (const [k, v] of Object.entries(fields)) f.append(k, v);
  return f;
}

export const auth = (key = testEnv.TEST_API_KEY) => ({ Authorization: `Bearer ${key}` });

/** A PNG that is nothing but a signature and an IHDR claiming `w` x `h`. */
export function pngHeaderOnly(w: number, h: number): Uint8Array {
  const b = new Uint8Array(33);
  b.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
  new DataView(b.buffer).setUint32(16, w);
  new DataView(b.buffer).setUint32(20, h);
  b.set([8, 6, 0, 0, 0], 24);
  return b;
}

const BASE = "https://edge.test";
/** A request to the Worker under test, by path. */
export const call = (path: string, init: RequestInit = {}) => exports.default.fetch(new Request(`${BASE}${path}`, init));

/** A fresh account with `credits`, through the admin API; its id and auth headers. */
export async function newAccount(credits: number, name = "tenant") {
  const res = await call("/v1/admin/accounts", {
    method: "POST",
    headers: { Authorization: `Bearer ${testEnv.ADMIN_TOKEN}`, "Content-Type": "application/json" },
    body: JSON.stringify({ name, credits }),
  });
  expect(res.status).toBe(201);
  const { api_key, account } = (await res.json()) as { api_key: string; account: { id: string } };
  return { id: account.id, headers: auth(api_key) };
}
