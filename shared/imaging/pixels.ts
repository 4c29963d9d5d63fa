import { newImage, type RgbaImage } from "./types.ts";

/** Drop alpha: RGB bytes for the wire. */
export function rgbaToRgb(img: RgbaImage): Uint8Array {
  const n = img.width * img.height;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    out[i * 3] = img.data[i * 4];
    out[i * 3 + 1] = img.data[i * 4 + 1];
    out[i * 3 + 2] = img.data[i * 4 + 2];
  }
  return out;
}

/** RGB bytes back to an opaque RGBA image. */
export function rgbToRgba(rgb: Uint8Array, width: number, height: number): RgbaImage {
  const img = newImage(width, height);
  for (let i = 0; i < width * height; i++) {
    img.data[i * 4] = rgb[i * 3];
    img.data[i * 4 + 1] = rgb[i * 3 + 1];
    img.data[i * 4 + 2] = rgb[i * 3 + 2];
    img.data[i * 4 + 3] = 255;
  }
  return img;
}

/** True when no pixel is transparent (alpha can then be dropped on encode). */
export function isOpaque(img: RgbaImage): boolean {
  for (let i = 3; i < img.data.length; i += 4) if (img.data[i] !== 255) return false;
  return true;
}
