/** Reading a mask input: JSON documents in a file's bytes or inline, sizes against the image. */
import { invertInPlace } from "../../imaging/mask.ts";
import { resizeMask } from "../../imaging/resize.ts";
import type { Mask } from "../../imaging/types.ts";
import { Problem } from "../../problems.ts";
import type { MaskContext, MaskInput } from "../contract.ts";

const parsed = new WeakMap<MaskInput, unknown>();
const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

export const isPng = (b: Uint8Array | undefined): b is Uint8Array =>
  !!b && b.length >= 8 && PNG_MAGIC.every((v, i) => b[i] === v);

/**
 * The input as JSON: the inline document, or the bytes when they are a JSON object or array
 * (parsed once per input); undefined when they are not JSON.
 */
export function jsonOf(input: MaskInput): unknown {
  if (input.json !== undefined) return input.json;
  const b = input.bytes;
  if (!b) return undefined;
  if (parsed.has(input)) return parsed.get(input);
  let i = b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? 3 : 0; // UTF-8 BOM
  while (i < b.length && (b[i] === 0x20 || b[i] === 0x0a || b[i] === 0x0d || b[i] === 0x09)) i++;
  let doc: unknown;
  if (b[i] === 0x7b || b[i] === 0x5b) {
    try {
      doc = JSON.parse(new TextDecoder().decode(b.subarray(i)));
    } catch {}
  }
  parsed.set(input, doc);
  return doc;
}

/** 422 mask-mismatch unless the sizes agree or mask_resize allows scaling. */
export function checkSize(mask: { width: number; height: number }, ctx: MaskContext): void {
  const ih = ctx.image;
  const { maxSide, maxMegapixels } = ctx.limits;
  const mp = (mask.width * mask.height) / 1e6;
  if (mask.width > maxSide || mask.height > maxSide || mp > maxMegapixels)
    throw new Problem(
      "image-too-large",
      `mask is ${mask.width}x${mask.height} (${mp.toFixed(1)} MP); the limits are ${maxSide} px per side and ${maxMegapixels} MP`,
      { field: "mask", width: mask.width, height: mask.height, max_side: maxSide, max_megapixels: maxMegapixels },
    );
  if ((mask.width !== ih.width || mask.height !== ih.height) && !ctx.options.mask_resize)
    throw new Problem(
      "mask-mismatch",
      `mask is ${mask.width}x${mask.height} but the image is ${ih.width}x${ih.height} (set mask_resize=true to scale it)`,
      { image: { width: ih.width, height: ih.height }, mask: { width: mask.width, height: mask.height } },
    );
}

/**
 * A raster mask inverted on request, then at the image's size (scaled when mask_resize allowed a
 * mismatch; any hole coverage stays a hole, so the order matters).
 */
export function fitted(m: Mask, size: { width: number; height: number }, invert: boolean): Mask {
  if (invert) invertInPlace(m);
  return m.width === size.width && m.height === size.height ? m : resizeMask(m, size.width, size.height);
}
