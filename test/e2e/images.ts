/** Synthetic images and multipart requests for the end-to-end test and the benchmark (Node). */
import { newImage, type RgbaImage } from "../../shared/imaging/types.ts";

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Photo-like content (gradients, texture, a few edges); `alpha` gives translucent pixels. */
export function photo(width: number, height: number, alpha?: (x: number, y: number) => number): RgbaImage {
  const img = newImage(width, height);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * 4;
      const stripe = (Math.floor(x / 37) + Math.floor(y / 29)) % 2 ? 30 : 0;
      img.data[p] = (x * 200) / width + stripe;
      img.data[p + 1] = (y * 200) / height + stripe;
      img.data[p + 2] = 128 + 60 * Math.sin(x / 9) * Math.cos(y / 13);
      img.data[p + 3] = alpha ? alpha(x, y) : 255;
    }
  return img;
}

/** White (hole) inside `box`, black elsewhere; no box = an empty mask. */
export function maskImage(width: number, height: number, box?: Box): RgbaImage {
  const img = newImage(width, height);
  for (let i = 0; i < width * height; i++) img.data[i * 4 + 3] = 255;
  if (box)
    for (let y = box.y; y < box.y + box.height; y++)
      img.data.fill(255, (y * width + box.x) * 4, (y * width + box.x + box.width) * 4);
  return img;
}

export const inBox = (x: number, y: number, b: Box) => x >= b.x && x < b.x + b.width && y >= b.y && y < b.y + b.height;

export function inpaintForm(image: Uint8Array, mask?: Uint8Array, fields: Record<string, string> = {}): FormData {
  const f = new FormData();
  f.append("image", new Blob([image as Uint8Array<ArrayBuffer>]), "image");
  if (mask) f.append("mask", new Blob([mask as Uint8Array<ArrayBuffer>]), "mask.png");
  for (const [k, v] of Object.entries(fields)) f.append(k, v);
  return f;
}

/** A PNG that is only a signature and an IHDR claiming `w` x `h` (a decompression bomb's header). */
export function pngHeaderOnly(w: number, h: number): Uint8Array {
  const b = new Uint8Array(33);
  b.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
  new DataView(b.buffer).setUint32(16, w);
  new DataView(b.buffer).setUint32(20, h);
  b.set([8, 6, 0, 0, 0], 24);
  return b;
}
