/**
 * Mask source `shapes`: rectangles, polygons and strokes in image pixels (shared/schemas/shapes.ts),
 * inline as `mask_shapes` or as a JSON file. Hashed as the parsed document, not as pixels: a cache
 * hit costs no raster.
 */
import { invertInPlace } from "../../imaging/mask.ts";
import { checkShapesCost, rasterizeShapes } from "../../imaging/rasterize.ts";
import { invalidOptions } from "../../problems.ts";
import { MaskShapes } from "../../schemas/shapes.ts";
import { definePlugin, type MaskInput } from "../contract.ts";
import { jsonOf } from "./input.ts";

function parse(input: MaskInput): MaskShapes {
  const r = MaskShapes.safeParse(jsonOf(input));
  if (r.success) return r.data;
  throw invalidOptions(r.error, ["mask_shapes"]);
}

export const shapesMask = () =>
  definePlugin({
    name: "shapes",
    version: "1.0.0",
    kind: "mask-source",
    description: 'Vector mask: {"shapes":[{"type":"rect"|"polygon"|"stroke",...}]} in image pixels',
    setup: () => ({
      accepts: 'shapes JSON ({"shapes":[...]})',
      detect: (input) => {
        const doc = jsonOf(input);
        return !!doc && typeof doc === "object" && Array.isArray((doc as { shapes?: unknown }).shapes);
      },
      // The drawing's cost, counted from the points: shapes have their own, tighter bound (4 passes
      // over this image, 10,000 points; 422 mask-too-complex) besides the host's.
      work: (input, ctx) => {
        const c = checkShapesCost(parse(input).shapes, ctx.image.width, ctx.image.height);
        return { work: c.work, counts: { points: c.points, rows: c.rows, crossings: c.crossings, pixels: c.pixels } };
      },
      check: (input, ctx) => {
        checkShapesCost(parse(input).shapes, ctx.image.width, ctx.image.height);
      },
      async load(input, ctx) {
        const doc = parse(input);
        checkShapesCost(doc.shapes, ctx.image.width, ctx.image.height);
        const invert = ctx.options.invert_mask;
        return {
          // The parsed document: zod output has its keys in schema order, so equal shapes hash equal.
          identity: `shapes:${JSON.stringify(doc)}`,
          empty: doc.shapes.length === 0 && !invert,
          build: (size) => {
            const m = rasterizeShapes(doc.shapes, size.width, size.height);
            return invert ? invertInPlace(m) : m;
          },
        };
      },
    }),
  });
