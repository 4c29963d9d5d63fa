import { z } from "zod";

/** A point [x, y] in image pixels (the stored pixel grid, before any EXIF orientation). */
const Point = z.tuple([z.number().finite(), z.number().finite()]);
const coord = z.number().finite();

export const RectShape = z
  .object({
    type: z.literal("rect"),
    x: coord,
    y: coord,
    width: z.number().finite().positive(),
    height: z.number().finite().positive(),
  })
  .strict();
export const PolygonShape = z
  .object({ type: z.literal("polygon"), points: z.array(Point).min(3).max(10_000) })
  .strict()
  .describe("filled with the nonzero winding rule");
export const StrokeShape = z
  .object({
    type: z.literal("stroke"),
    points: z.array(Point).min(1).max(10_000),
    width: z.number().finite().positive().max(4096),
  })
  .strict()
  .describe("a polyline of the given width with round joins and caps");
export const Shape = z.discriminatedUnion("type", [RectShape, PolygonShape, StrokeShape]);

const ShapeList = z.array(Shape).max(1000);
/** The shapes document: `{"shapes": [...]}`. */
export const ShapesDocument = z.object({ shapes: ShapeList }).strict();
/**
 * Field `mask_shapes` of POST /v1/inpaint and /v1/jobs: the hole drawn as shapes instead of a PNG,
 * as the document `{"shapes": [...]}` or the bare array `[...]` (what a shapes variable in the SDK
 * holds). Parsed, it is always the document.
 */
export const MaskShapes = z
  .union([ShapesDocument, ShapeList])
  .describe('{"shapes": [...]} or the bare array [...] of rect, polygon and stroke shapes, in image pixels')
  .transform((m): { shapes: Shape[] } => (Array.isArray(m) ? { shapes: m } : m));

export type Shape = z.infer<typeof Shape>;
/** The parsed `mask_shapes`: always the document. */
export type MaskShapes = z.infer<typeof MaskShapes>;
/** What `mask_shapes` accepts: the document or the bare array. */
export type MaskShapesInput = z.input<typeof MaskShapes>;
export type Point = z.infer<typeof Point>;
