/**
 * Model input/output as typed arrays: NCHW float32, image in [-1,1] RGB, mask 1 = hole.
 * Sizes are padded up to a multiple of 4 (the generator downsamples twice) by replicating the
 * edge, with the padding marked as known so that it only lends context.
 */
import { type Mask, newImage, type RgbaImage } from "./types.ts";

export const SIZE_MULTIPLE = 4;

export const padTo = (n: number, multiple = SIZE_MULTIPLE): number => Math.ceil(n / multiple) * multiple;

export interface ModelTensors {
  image: Float32Array;
  mask: Float32Array;
  width: number;
  height: number;
}

export function toModelInput(img: RgbaImage, mask: Mask, multiple = SIZE_MULTIPLE): ModelTensors {
  if (img.width !== mask.width || img.height !== mask.height) throw new RangeError("image and mask sizes differ");
  const W = padTo(img.width, multiple);
  const H = padTo(img.height, multiple);
  const plane = W * H;
  const image = new Float32Array(3 * plane);
  const m = new Float32Array(plane);
  for (let y = 0; y < H; y++) {
    const sy = Math.min(y, img.height - 1);
    for (let x = 0; x < W; x++) {
      const sx = Math.min(x, img.width - 1);
      const s = sy * img.width + sx;
      const o = y * W + x;
      const inside = y < img.height && x < img.width;
      const hole = inside && mask.data[s] === 1;
      m[o] = hole ? 1 : 0;
      for (let c = 0; c < 3; c++) image[c * plane + o] = hole ? 0 : img.data[s * 4 + c] / 127.5 - 1;
    }
  }
  return { image, mask: m, width: W, height: H };
}

/** Back to RGBA at (width, height) (cropping any padding), rounding to the nearest level. */
export function fromModelOutput(out: Float32Array, W: number, H: number, width: number, height: number): RgbaImage {
  if (out.length !== 3 * W * H) throw new RangeError(`model output has ${out.length} values, expected ${3 * W * H}`);
  const img = newImage(width, height);
  const plane = W * H;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = y * W + x;
      const p = (y * width + x) * 4;
      for (let c = 0; c < 3; c++) img.data[p + c] = Math.round((out[c * plane + o] + 1) * 127.5);
      img.data[p + 3] = 255;
    }
  }
  return img;
}
