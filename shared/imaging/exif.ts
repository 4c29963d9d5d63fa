/**
 * EXIF orientation: read tag 0x0112 from a JPEG's APP1 segment (header bytes only), and apply
 * it to decoded pixels, so the edge and the CLI return an upright image (EXIF itself is not
 * copied to the output, so the rotation must be in the pixels).
 */
import type { Mask, RgbaImage } from "./types.ts";

/** EXIF orientation 1-8 of a JPEG (1 when absent or unreadable). */
export function jpegOrientation(b: Uint8Array): number {
  if (b[0] !== 0xff || b[1] !== 0xd8) return 1;
  let o = 2;
  while (o + 4 <= b.length && b[o] === 0xff) {
    const marker = b[o + 1];
    if (marker === 0xda || marker === 0xd9) break; // image data: no more metadata
    const len = (b[o + 2] << 8) | b[o + 3];
    if (marker === 0xe1 && len >= 16 && String.fromCharCode(...b.subarray(o + 4, o + 10)) === "Exif\0\0")
      return tiffOrientation(b.subarray(o + 10, o + 2 + len));
    o += 2 + len;
  }
  return 1;
}

function tiffOrientation(t: Uint8Array): number {
  if (t.length < 8) return 1;
  const le = t[0] === 0x49 && t[1] === 0x49;
  if (!le && !(t[0] === 0x4d && t[1] === 0x4d)) return 1;
  const u16 = (i: number) => (le ? t[i] | (t[i + 1] << 8) : (t[i] << 8) | t[i + 1]);
  const u32 = (i: number) => (le ? u16(i) + u16(i + 2) * 65536 : u16(i) * 65536 + u16(i + 2));
  const ifd = u32(4);
  if (ifd + 2 > t.length) return 1;
  const n = u16(ifd);
  for (let k = 0; k < n; k++) {
    const e = ifd + 2 + k * 12;
    if (e + 12 > t.length) return 1;
    if (u16(e) === 0x0112) {
      const v = u16(e + 8);
      return v >= 1 && v <= 8 ? v : 1;
    }
  }
  return 1;
}

/** Orientations 5-8 swap width and height. */
export const swapsAxes = (orientation: number): boolean => orientation >= 5 && orientation <= 8;

type Affine = [number, number, number];
/** For each orientation, where dst(x, y) reads from in the stored w x h grid. */
const SOURCE_OF: Record<number, (w: number, h: number) => [Affine, Affine]> = {
  2: (w) => [
    [-1, 0, w - 1],
    [0, 1, 0],
  ],
  3: (w, h) => [
    [-1, 0, w - 1],
    [0, -1, h - 1],
  ],
  4: (_, h) => [
    [1, 0, 0],
    [0, -1, h - 1],
  ],
  5: () => [
    [0, 1, 0],
    [1, 0, 0],
  ],
  6: (_, h) => [
    [0, 1, 0],
    [-1, 0, h - 1],
  ],
  7: (w, h) => [
    [0, -1, w - 1],
    [-1, 0, h - 1],
  ],
  8: (w) => [
    [0, -1, w - 1],
    [1, 0, 0],
  ],
};

/**
 * Upright copy of `channels`-interleaved pixels stored with EXIF `orientation`; the input itself
 * when the orientation is 1. dst(x, y) = src(sx, sy), per the EXIF definition of each value.
 */
function orient<T extends Uint8Array | Uint8ClampedArray>(
  src: T,
  w: number,
  h: number,
  channels: number,
  orientation: number,
  make: (n: number) => T,
): { data: T; width: number; height: number } {
  if (orientation <= 1 || orientation > 8) return { data: src, width: w, height: h };
  const swap = swapsAxes(orientation);
  const W = swap ? h : w;
  const H = swap ? w : h;
  const out = make(W * H * channels);
  // sx = kx[0] * x + kx[1] * y + kx[2], sy likewise: each orientation is an affine index map.
  const [kx, ky] = SOURCE_OF[orientation](w, h);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const s = ((ky[0] * x + ky[1] * y + ky[2]) * w + kx[0] * x + kx[1] * y + kx[2]) * channels;
      const d = (y * W + x) * channels;
      for (let c = 0; c < channels; c++) out[d + c] = src[s + c];
    }
  return { data: out, width: W, height: H };
}

export const orientImage = (img: RgbaImage, orientation: number): RgbaImage =>
  orient(img.data, img.width, img.height, 4, orientation, (n) => new Uint8ClampedArray(n));

export const orientMask = (m: Mask, orientation: number): Mask =>
  orient(m.data, m.width, m.height, 1, orientation, (n) => new Uint8Array(n));

/** A JPEG with an EXIF APP1 segment carrying `orientation` inserted after SOI (tests, bench). */
export function withExifOrientation(jpeg: Uint8Array, orientation: number): Uint8Array {
  // "Exif\0\0" + big-endian TIFF header + one IFD entry (0x0112 SHORT 1 = orientation) + next-IFD 0.
  const tiff = [0x4d, 0x4d, 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, orientation, 0, 0, 0, 0, 0, 0];
  const payload = [0x45, 0x78, 0x69, 0x66, 0, 0, ...tiff];
  const seg = [0xff, 0xe1, (payload.length + 2) >> 8, (payload.length + 2) & 0xff, ...payload];
  const out = new Uint8Array(jpeg.length + seg.length);
  out.set(jpeg.subarray(0, 2));
  out.set(seg, 2);
  out.set(jpeg.subarray(2), 2 + seg.length);
  return out;
}
