/**
 * PNG and JPEG at the edge with the @jsquash WASM codecs. workerd refuses to compile WebAssembly
 * from bytes, so each .wasm is imported as a module (bundled as CompiledWasm) and handed to the
 * codec's init. Uploads are inspected from their header first: format, size and limits are
 * settled before a single pixel is decoded (a 50000x50000 PNG header costs 24 bytes to read).
 */

import jpegDecWasm from "@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm";
import jpegEncWasm from "@jsquash/jpeg/codec/enc/mozjpeg_enc.wasm";
import decodeJpegRaw, { init as initJpegDecRaw } from "@jsquash/jpeg/decode.js";
import encodeJpegRaw, { init as initJpegEncRaw } from "@jsquash/jpeg/encode.js";
// @ts-expect-error the package's .d.ts types the instance's exports; the bundler hands over the Module
import pngWasm from "@jsquash/png/codec/pkg/squoosh_png_bg.wasm";
import decodePngRaw, { init as initPngDec } from "@jsquash/png/decode.js";
import encodePngRaw, { init as initPngEnc } from "@jsquash/png/encode.js";
import webpDecWasm from "@jsquash/webp/codec/dec/webp_dec.wasm";
import webpEncWasm from "@jsquash/webp/codec/enc/webp_enc.wasm";
import webpEncSimdWasm from "@jsquash/webp/codec/enc/webp_enc_simd.wasm";
import decodeWebpRaw, { init as initWebpDecRaw } from "@jsquash/webp/decode.js";
import encodeWebpRaw, { init as initWebpEncRaw } from "@jsquash/webp/encode.js";
import { countJpegScans, MAX_SCANS_AT_MAX_PIXELS } from "../shared/imaging/jpeg-scans.ts";
import { type ImageFormat, type ImageHeader, looksComplete, readImageHeader, sniffFormat } from "../shared/imaging/sniff.ts";
import type { RgbaImage } from "../shared/imaging/types.ts";
import { Problem } from "../shared/problems.ts";
import type { UploadLimits } from "./env.ts";

export type { ImageFormat, ImageHeader };

/** Formats this Worker decodes and encodes. */
export const EDGE_FORMATS = ["png", "jpeg", "webp"] as const satisfies readonly ImageFormat[];
export type EdgeFormat = (typeof EDGE_FORMATS)[number];

export const MIME: Record<EdgeFormat, string> = { png: "image/png", jpeg: "image/jpeg", webp: "image/webp" };

/** What the codecs take and return (ImageData without the DOM type, which Workers lack). */
interface Pixels {
  width: number;
  height: number;
  data: Uint8ClampedArray;
}
type Decode = (buf: ArrayBuffer, o?: object) => Promise<Pixels>;
type Encode = (img: Pixels, o?: object) => Promise<ArrayBuffer>;
const decodePng = decodePngRaw as unknown as Decode;
const decodeJpeg = decodeJpegRaw as unknown as Decode;
const encodePng = encodePngRaw as unknown as Encode;
const encodeJpeg = encodeJpegRaw as unknown as Encode;
const decodeWebp = decodeWebpRaw as unknown as Decode;
const encodeWebp = encodeWebpRaw as unknown as Encode;

// The Emscripten (jpeg) inits take a compiled module first; their .d.ts only lists the options.
type InitWithModule = (module: WebAssembly.Module, options?: { printErr?: (m: string) => void }) => Promise<unknown>;
const initJpegDec = initJpegDecRaw as unknown as InitWithModule;
const initJpegEnc = initJpegEncRaw as unknown as InitWithModule;
const initWebpDec = initWebpDecRaw as unknown as InitWithModule;
const initWebpEnc = initWebpEncRaw as unknown as InitWithModule;

const once = (f: () => Promise<unknown>) => {
  let p: Promise<unknown> | undefined;
  return () => {
    p ??= f().catch((e) => {
      p = undefined; // a failed instantiation may succeed on the next request
      throw e;
    });
    return p;
  };
};
const pngReady = once(() => Promise.all([initPngDec(pngWasm), initPngEnc(pngWasm)]));
/** Warnings libjpeg printed during the current decode (see decodeJpegChecked). */
const jpegWarnings: string[] = [];
const jpegDecReady = once(() => initJpegDec(jpegDecWasm, { printErr: (m: string) => jpegWarnings.push(m) }));
const jpegEncReady = once(() => initJpegEnc(jpegEncWasm));
const webpDecReady = once(() => initWebpDec(webpDecWasm));
// The WebP encoder picks its SIMD or plain build by feature detection; workerd's V8 has SIMD,
// and the plain build is the fallback should that detection ever say no.
const webpEncReady = once(() => initWebpEnc(webpEncSimdWasm).catch(() => initWebpEnc(webpEncWasm)));

const MB = 1024 * 1024;

/**
 * libjpeg's warnings for entropy data that ran out or went bad. It does not fail on them: the
 * missing blocks decode as flat grey (a truncated baseline file with FF D9 appended comes out
 * half grey), so they are errors here. "Extraneous bytes before marker" is harmless and kept.
 */
const JPEG_DATA_MISSING = /premature end|bad huffman code|found marker .* instead of RST|huffman table .* was not defined/i;

let jpegQueue: Promise<unknown> = Promise.resolve();

/**
 * One JPEG decode with the warnings it printed. Decodes take turns (each is synchronous inside
 * the codec anyway), so the warnings collected are this decode's only.
 */
function decodeJpegChecked(buf: ArrayBuffer): Promise<{ img: Pixels; warnings: string[] }> {
  const run = jpegQueue.then(async () => {
    await jpegDecReady();
    jpegWarnings.length = 0;
    // Raw sample order, no EXIF rotation: the size is the header's, as in the CLI.
    const img = await decodeJpeg(buf, { preserveOrientation: false });
    return { img, warnings: jpegWarnings.splice(0) };
  });
  jpegQueue = run.catch(() => undefined);
  return run;
}

/**
 * Format and size from the header, against the limits. Throws 413 (bytes or dimensions), 415
 * (not one of `accept`) or 422 (header unreadable, file truncated).
 */
export function inspectUpload(
  bytes: Uint8Array,
  what: "image" | "mask",
  limits: UploadLimits,
  accept: readonly EdgeFormat[],
): ImageHeader & { format: EdgeFormat } {
  const names = accept.map((f) => f.toUpperCase()).join(" or ");
  if (bytes.length > limits.maxUploadBytes)
    throw new Problem(
      "payload-too-large",
      `${what} is ${(bytes.length / MB).toFixed(1)} MiB; the limit is ${(limits.maxUploadBytes / MB).toFixed(1)} MiB per file`,
      { field: what, size_bytes: bytes.length, limit_bytes: limits.maxUploadBytes },
    );
  const format = sniffFormat(bytes);
  if (!format || !(accept as readonly string[]).includes(format))
    throw new Problem(
      "unsupported-media-type",
      `${what} must be ${names}${format ? ` (got ${format.toUpperCase()})` : " (the bytes are not a known image format)"}`,
      { field: what, accepted: accept.map((f) => MIME[f]) },
    );
  const h = readImageHeader(bytes);
  if (!h || h.width === 0 || h.height === 0)
    throw new Problem("undecodable-image", `${what}: the ${format.toUpperCase()} header is unreadable`, { field: what });
  checkDimensions(h, what, limits);
  if (!looksComplete(bytes, format))
    throw new Problem("undecodable-image", `${what} is truncated (the ${format.toUpperCase()} file ends early)`, { field: what });
  if (format === "jpeg") checkJpegDecodeWork(bytes, h, what, limits);
  return { ...h, format: format as EdgeFormat };
}

/**
 * A JPEG's decode work (scans x pixels, counted from its segment structure) against the bound:
 * MAX_SCANS_AT_MAX_PIXELS scans of the largest image the limits allow. Over it, 422
 * image-too-complex before any pixel is decoded (a progressive JPEG with thousands of empty
 * refinement scans took seconds to decode and blocked the isolate).
 */
export function checkJpegDecodeWork(
  bytes: Uint8Array,
  h: { width: number; height: number },
  what: string,
  limits: UploadLimits,
): void {
  const pixels = h.width * h.height;
  const maxWork = MAX_SCANS_AT_MAX_PIXELS * limits.maxMegapixels * 1e6;
  // Counting stops as soon as the bound is passed.
  const { scans } = countJpegScans(bytes, Math.floor(maxWork / Math.max(1, pixels)) + 1);
  const work = scans * pixels;
  if (work > maxWork)
    throw new Problem(
      "image-too-complex",
      `${what} is a JPEG of ${h.width}x${h.height} in ${scans} or more scans: decoding it would pass over ${work} pixels, over the bound of ${maxWork} (${MAX_SCANS_AT_MAX_PIXELS} scans of ${limits.maxMegapixels} MP); re-encode it (baseline, or a standard progressive script)`,
      { field: what, scans, pixels, work, max_work: maxWork },
    );
}

/** 413 image-too-large when `h` exceeds the pixel or side limits. */
export function checkDimensions(h: { width: number; height: number }, what: string, limits: UploadLimits): void {
  const mp = (h.width * h.height) / 1e6;
  if (h.width > limits.maxSide || h.height > limits.maxSide || mp > limits.maxMegapixels)
    throw new Problem(
      "image-too-large",
      `${what} is ${h.width}x${h.height} (${mp.toFixed(1)} MP); the limits are ${limits.maxSide} px per side and ${limits.maxMegapixels} MP`,
      { field: what, width: h.width, height: h.height, max_side: limits.maxSide, max_megapixels: limits.maxMegapixels },
    );
}

/** The exact ArrayBuffer the codecs want, without a copy when `b` already spans its buffer. */
const exactBuffer = (b: Uint8Array): ArrayBuffer =>
  (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b.buffer : b.slice().buffer) as ArrayBuffer;

/** Decodes an upload `inspectUpload` accepted; 422 when the codec fails or disagrees with the header. */
export async function decodeUpload(bytes: Uint8Array, h: ImageHeader & { format: EdgeFormat }, what: string): Promise<RgbaImage> {
  let img: Pixels;
  let warnings: string[] = [];
  try {
    if (h.format === "png") {
      await pngReady();
      img = await decodePng(exactBuffer(bytes));
    } else if (h.format === "jpeg") {
      ({ img, warnings } = await decodeJpegChecked(exactBuffer(bytes)));
    } else {
      await webpDecReady();
      img = await decodeWebp(exactBuffer(bytes));
    }
  } catch (e) {
    throw new Problem("undecodable-image", `${what} could not be decoded (${(e as Error)?.message || "corrupt data"})`, {
      field: what,
    });
  }
  const missing = warnings.find((w) => JPEG_DATA_MISSING.test(w));
  if (missing)
    throw new Problem("undecodable-image", `${what} is truncated or corrupt (the JPEG decoder says: ${missing})`, {
      field: what,
    });
  if (!img || img.width !== h.width || img.height !== h.height)
    throw new Problem("undecodable-image", `${what} could not be decoded (corrupt data)`, { field: what });
  return { width: img.width, height: img.height, data: img.data };
}

/**
 * inspectUpload, then a full decode whose pixels are dropped: for what is stored or queued now
 * and decoded later (uploads, job inputs), so that a file whose header is fine but whose data is
 * not (a truncated JPEG with FF D9 appended, a corrupt PNG stream) is a 422 now, not a failed job.
 */
export async function inspectAndDecode(
  bytes: Uint8Array,
  what: "image" | "mask",
  limits: UploadLimits,
  accept: readonly EdgeFormat[],
): Promise<ImageHeader & { format: EdgeFormat }> {
  const h = inspectUpload(bytes, what, limits, accept);
  await decodeUpload(bytes, h, what);
  return h;
}

export async function encodeImage(img: RgbaImage, format: EdgeFormat, quality: number): Promise<Uint8Array> {
  // The codecs read `data.buffer` whole: hand them an array that spans its buffer.
  const data = img.data.byteOffset === 0 && img.data.byteLength === img.data.buffer.byteLength ? img.data : img.data.slice();
  const pixels: Pixels = { width: img.width, height: img.height, data };
  if (format === "png") {
    await pngReady();
    return new Uint8Array(await encodePng(pixels));
  }
  if (format === "jpeg") {
    await jpegEncReady();
    // Baseline, not progressive: 2.5x faster here, ~8% larger, the same decoded pixels.
    return new Uint8Array(await encodeJpeg(pixels, { quality, progressive: false }));
  }
  await webpEncReady();
  return new Uint8Array(await encodeWebp(pixels, { quality }));
}
