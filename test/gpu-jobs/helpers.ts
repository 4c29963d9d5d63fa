/** Small synthetic fixtures for the Node-side tests (written to a temp dir, never committed). */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { newImage, newMask, type RgbaImage } from "../../shared/imaging/types.ts";

export const tempDir = (prefix = "gmcnn-test-") => mkdtempSync(join(tmpdir(), prefix));

/** A smooth colour gradient with some texture, so inpainting has something to continue. */
export function gradient(w: number, h: number): RgbaImage {
  const img = newImage(w, h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const p = (y * w + x) * 4;
      img.data[p] = (x * 255) / w;
      img.data[p + 1] = (y * 255) / h;
      img.data[p + 2] = 128 + 60 * Math.sin(x / 5) * Math.cos(y / 7);
      img.data[p + 3] = 255;
    }
  return img;
}

/** A mask image (white = hole) with one rectangle. */
export function rectMaskImage(w: number, h: number, x: number, y: number, rw: number, rh: number): RgbaImage {
  const img = newImage(w, h);
  for (let i = 0; i < w * h; i++) img.data.set([0, 0, 0, 255], i * 4);
  for (let j = y; j < y + rh; j++) for (let i = x; i < x + rw; i++) img.data.set([255, 255, 255, 255], (j * w + i) * 4);
  return img;
}

export function rectMask(w: number, h: number, x: number, y: number, rw: number, rh: number) {
  const m = newMask(w, h);
  for (let j = y; j < y + rh; j++) m.data.fill(1, j * w + x, j * w + x + rw);
  return m;
}
