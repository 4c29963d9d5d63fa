/**
 * PNG / JPEG / WebP in Node with the same WASM codecs the edge uses (@jsquash), so the CLI and
 * the API decode and encode identically. Node may compile WASM from bytes (workerd may not).
 */
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { type ImageFormat, looksComplete, readImageHeader } from "../shared/imaging/sniff.ts";
import type { RgbaImage } from "../shared/imaging/types.ts";
import { Problem } from "../shared/problems.ts";

const require = createRequire(import.meta.url);
const pkgDir = (name: string) => dirname(require.resolve(`${name}/package.json`));
const wasm = async (pkg: string, file: string) => WebAssembly.compile(await readFile(join(pkgDir(pkg), file)));

const once = <T>(f: () => Promise<T>) => {
  let p: Promise<T> | undefined;
  return () => {
    p ??= f();
    return p;
  };
};

const png = once(async () => {
  const dec = await import("@jsquash/png/decode.js");
  const enc = await import("@jsquash/png/encode.js");
  await dec.init(await wasm("@jsquash/png", "codec/pkg/squoosh_png_bg.wasm"));
  return { decode: dec.default, encode: enc.default };
});
const jpeg = once(async () => {
  const dec = await import("@jsquash/jpeg/decode.js");
  const enc = await import("@jsquash/jpeg/encode.js");
  await dec.init(await wasm("@jsquash/jpeg", "codec/dec/mozjpeg_dec.wasm"));
  await enc.init(await wasm("@jsquash/jpeg", "codec/enc/mozjpeg_enc.wasm"));
  return { decode: dec.default, encode: enc.default };
});
const webp = once(async () => {
  const dec = await import("@jsquash/webp/decode.js");
  const enc = await import("@jsquash/webp/encode.js");
  await dec.init(await wasm("@jsquash/webp", "codec/dec/webp_dec.wasm"));
  await enc.init(await wasm("@jsquash/webp", "codec/enc/webp_enc.wasm"));
  return { decode: dec.default, encode: enc.default };
});

const ab = (b: Uint8Array): ArrayBuffer => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;

export interface Decoded {
  image: RgbaImage;
  format: ImageFormat;
}

/** Decode, refusing what is not PNG/JPEG/WebP, larger than `maxPixels`, or truncated. */
export async function decodeImage(bytes: Uint8Array, what = "image", maxPixels = 100e6): Promise<Decoded> {
  const h = readImageHeader(bytes);
  if (!h) throw new Problem("unsupported-media-type", `${what} is not a PNG, JPEG or WebP file`);
  if (h.width === 0 || h.height === 0) throw new Problem("undecodable-image", `${what} has zero size`);
  if (h.width * h.height > maxPixels)
    throw new Problem("image-too-large", `${what} is ${h.width}x${h.height}; the limit is ${maxPixels / 1e6} megapixels`);
  if (!looksComplete(bytes, h.format)) throw new Problem("undecodable-image", `${what} is truncated (the file ends early)`);
  const codec = await (h.format === "png" ? png() : h.format === "jpeg" ? jpeg() : webp());
  let img: ImageData;
  try {
    img = await codec.decode(ab(bytes));
  } catch (e) {
    throw new Problem("undecodable-image", `${what} could not be decoded (${(e as Error).message || "corrupt or truncated"})`);
  }
  if (!img || img.width !== h.width || img.height !== h.height)
    throw new Problem("undecodable-image", `${what} could not be decoded (corrupt or truncated)`);
  return { image: { width: img.width, height: img.height, data: img.data }, format: h.format };
}

export async function encodeImage(img: RgbaImage, format: ImageFormat, quality = 90): Promise<Uint8Array> {
  const data = { width: img.width, height: img.height, data: img.data, colorSpace: "srgb" } as ImageData;
  if (format === "png") return new Uint8Array(await (await png()).encode(data));
  if (format === "jpeg") return new Uint8Array(await (await jpeg()).encode(data, { quality }));
  return new Uint8Array(await (await webp()).encode(data, { quality }));
}
