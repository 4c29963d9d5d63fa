/**
 * Mask source `png`: a PNG where white (luminance > 127) is the hole, or with
 * mask_source=alpha, transparent (alpha < 128) pixels. Same pixel grid as the image, or any size
 * with mask_resize. Hashed by its normalised pixels, so two PNGs of one mask share a cache entry.
 */
import { holeCount, maskFromImage } from "../../imaging/mask.ts";
import { definePlugin, type MaskContext, type MaskInput } from "../contract.ts";
import { checkSize, fitted, isPng } from "./input.ts";

function header(input: MaskInput, ctx: MaskContext) {
  const h = ctx.codecs.inspect(input.bytes as Uint8Array, "mask", ["png"]);
  checkSize(h, ctx);
  return h;
}

export const pngMask = () =>
  definePlugin({
    name: "png",
    version: "1.0.0",
    kind: "mask-source",
    description: "PNG mask: white (luminance > 127) = hole, or transparent pixels with mask_source=alpha",
    setup: () => ({
      accepts: "a PNG (image/png)",
      detect: (input) => isPng(input.bytes),
      // Decoding writes every pixel of the header's size; fitting it to another size, the image's.
      work: (input, ctx) => {
        const h = header(input, ctx);
        const pixels = h.width * h.height;
        const resized = h.width !== ctx.image.width || h.height !== ctx.image.height ? ctx.image.width * ctx.image.height : 0;
        return { work: pixels + resized, counts: { pixels, resized } };
      },
      check: (input, ctx) => {
        header(input, ctx);
      },
      async load(input, ctx) {
        const h = header(input, ctx);
        const img = await ctx.codecs.decode(input.bytes as Uint8Array, h, "mask");
        const m = fitted(maskFromImage(img, ctx.options.mask_source), ctx.image, ctx.options.invert_mask);
        return { identity: m.data, empty: holeCount(m) === 0, build: () => m };
      },
    }),
  });
