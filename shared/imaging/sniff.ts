/**
 * Image format and dimensions from the first bytes, before any decode: this is how decompression
 * bombs are refused (a 50000x50000 PNG header costs nothing to read and everything to decode).
 */
export type ImageFormat = "png" | "jpeg" | "webp";

export interface ImageHeader {
  format: ImageFormat;
  width: number;
  height: number;
}

const PNG_SIG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

export function sniffFormat(b: Uint8Array): ImageFormat | null {
  if (b.length >= 8 && PNG_SIG.every((v, i) => b[i] === v)) return "png";
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "jpeg";
  if (b.length >= 12 && ascii(b, 0, 4) === "RIFF" && ascii(b, 8, 4) === "WEBP") return "webp";
  return null;
}

const ascii = (b: Uint8Array, o: number, n: number) => String.fromCharCode(...b.subarray(o, o + n));
const u16be = (b: Uint8Array, o: number) => (b[o] << 8) | b[o + 1];
const u32be = (b: Uint8Array, o: number) => ((b[o] << 24) >>> 0) + (b[o + 1] << 16) + (b[o + 2] << 8) + b[o + 3];
const u16le = (b: Uint8Array, o: number) => b[o] | (b[o + 1] << 8);
const u24le = (b: Uint8Array, o: number) => b[o] | (b[o + 1] << 8) | (b[o + 2] << 16);

/** Format and size from the header, or null when the bytes are not a (complete enough) image. */
export function readImageHeader(b: Uint8Array): ImageHeader | null {
  const format = sniffFormat(b);
  if (format === "png") {
    if (b.length < 24 || ascii(b, 12, 4) !== "IHDR") return null;
    return { format, width: u32be(b, 16), height: u32be(b, 20) };
  }
  if (format === "jpeg") return jpegSize(b);
  if (format === "webp") return webpSize(b);
  return null;
}

function jpegSize(b: Uint8Array): ImageHeader | null {
  let o = 2;
  while (o + 4 <= b.length) {
    if (b[o] !== 0xff) return null;
    const marker = b[o + 1];
    if (marker === 0xff) {
      o++; // fill byte
      continue;
    }
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      o += 2;
      continue;
    }
    const len = u16be(b, o + 2);
    // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC) carry the frame size.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (o + 9 > b.length) return null;
      return { format: "jpeg", height: u16be(b, o + 5), width: u16be(b, o + 7) };
    }
    if (len < 2) return null;
    o += 2 + len;
  }
  return null;
}

function webpSize(b: Uint8Array): ImageHeader | null {
  if (b.length < 30) return null;
  const chunk = ascii(b, 12, 4);
  if (chunk === "VP8X") return { format: "webp", width: u24le(b, 24) + 1, height: u24le(b, 27) + 1 };
  if (chunk === "VP8 ") return { format: "webp", width: u16le(b, 26) & 0x3fff, height: u16le(b, 28) & 0x3fff };
  if (chunk === "VP8L") {
    const bits = b[21] | (b[22] << 8) | (b[23] << 16) | (b[24] << 24);
    return { format: "webp", width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
  }
  return null;
}

/**
 * Whether the file ends where its format says it ends (PNG: IEND chunk; JPEG: EOI marker).
 * JPEG decoders fill a truncated scan with grey instead of failing, so this is checked first.
 */
export function looksComplete(b: Uint8Array, format: ImageFormat): boolean {
  let end = b.length;
  if (format === "jpeg") {
    while (end > 2 && b[end - 1] === 0) end--; // some writers pad after EOI
    return end >= 4 && b[end - 2] === 0xff && b[end - 1] === 0xd9;
  }
  if (format === "png") return end >= 12 && ascii(b, end - 8, 4) === "IEND";
  if (format === "webp") return b.length >= 12 && u32le(b, 4) + 8 <= b.length;
  return false;
}

const u32le = (b: Uint8Array, o: number) => (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
