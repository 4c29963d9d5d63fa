/**
 * gmcnn-plugin-watermark-mask: a mask source for the most common cleanup job, a watermark or logo
 * in a corner. The mask is a small JSON document instead of a drawn PNG, sized relative to the
 * image, so one document fits every photo of a shoot:
 *
 *   {"watermark": {"corner": "bottom-right", "width": 0.25, "height": 0.08, "inset": 0.01}}
 *
 * width, height and inset are fractions of the image's width and height. Listed in
 * gmcnn.config.ts like any plugin; nothing in workers/ knows about it.
 */
import { z } from "zod";
import { definePlugin, type MaskInput } from "../../../shared/plugins/index.ts";
import { invalidOptions, Problem } from "../../../shared/problems.ts";

const Watermark = z
  .object({
    watermark: z
      .object({
        corner: z.enum(["top-left", "top-right", "bottom-left", "bottom-right"]),
        width: z.number().gt(0).max(1),
        height: z.number().gt(0).max(1),
        inset: z.number().min(0).max(0.5).default(0),
      })
      .strict(),
  })
  .strict();
type Watermark = z.infer<typeof Watermark>["watermark"];

function parse(input: MaskInput): Watermark {
  let doc = input.json;
  if (doc === undefined && input.bytes) {
    try {
      doc = JSON.parse(new TextDecoder().decode(input.bytes));
    } catch (e) {
      throw new Problem("bad-request", `mask: not JSON (${(e as Error).message})`, { field: "mask" });
    }
  }
  const r = Watermark.safeParse(doc);
  if (!r.success) throw invalidOptions(r.error, ["mask"]);
  return r.data.watermark;
}

/** The box in pixels: at least one pixel, inside the image. */
export function watermarkBox(w: Watermark, width: number, height: number) {
  const bw = Math.max(1, Math.round(w.width * width));
  const bh = Math.max(1, Math.round(w.height * height));
  const ix = Math.round(w.inset * width);
  const iy = Math.round(w.inset * height);
  const x = w.corner.endsWith("left") ? ix : width - ix - bw;
  const y = w.corner.startsWith("top") ? iy : height - iy - bh;
  return { x: Math.max(0, x), y: Math.max(0, y), width: Math.min(bw, width), height: Math.min(bh, height) };
}

export const watermarkMask = () =>
  definePlugin({
    name: "watermark-corner",
    version: "1.0.0",
    kind: "mask-source",
    description:
      'A watermark/logo box in a corner: {"watermark":{"corner":"bottom-right","width":0.25,"height":0.08}} (fractions of the image)',
    setup: () => ({
      accepts: 'watermark JSON ({"watermark":{"corner":...,"width":...,"height":...}})',
      detect(input) {
        let doc = input.json;
        if (doc === undefined && input.bytes && input.bytes.length < 4096) {
          try {
            doc = JSON.parse(new TextDecoder().decode(input.bytes));
          } catch {
            return false;
          }
        }
        return !!doc && typeof doc === "object" && "watermark" in doc;
      },
      // One raster at the image's size (the box is inside it): a pass over the image, whatever the document.
      work(input, ctx) {
        parse(input);
        return { work: ctx.image.width * ctx.image.height, counts: { pixels: ctx.image.width * ctx.image.height } };
      },
      check(input) {
        parse(input);
      },
      async load(input, ctx) {
        const w = parse(input);
        const invert = ctx.options.invert_mask;
        return {
          // The box depends on the image's size, which the cache key has through the image's hash.
          identity: `watermark-corner:${JSON.stringify(w)}`,
          empty: false,
          build(size) {
            const b = watermarkBox(w, size.width, size.height);
            const data = new Uint8Array(size.width * size.height);
            for (let y = b.y; y < b.y + b.height; y++) data.fill(1, y * size.width + b.x, y * size.width + b.x + b.width);
            if (invert) for (let i = 0; i < data.length; i++) data[i] ^= 1;
            return { width: size.width, height: size.height, data };
          },
        };
      },
    }),
  });
