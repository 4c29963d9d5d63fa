/** RGBA pixels, row-major, 4 bytes a pixel (the layout of ImageData and of the WASM codecs). */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8ClampedArray;
}

/** One byte a pixel, 1 = hole, 0 = keep. */
export interface Mask {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Integer pixel rectangle: [x, x + width) x [y, y + height). */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export const newImage = (width: number, height: number): RgbaImage => ({
  width,
  height,
  data: new Uint8ClampedArray(width * height * 4),
});

export const newMask = (width: number, height: number): Mask => ({ width, height, data: new Uint8Array(width * height) });
