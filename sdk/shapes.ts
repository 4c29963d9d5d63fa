/**
 * Shape builders for a mask drawn as shapes (`mask_shapes`), in image pixels. Each returns a typed
 * `Shape`, so an array of them kept in its own variable type-checks (an object literal's
 * `type: "stroke"` widens to `string` once it leaves the call). Or annotate: `const m: Shape[] = [...]`.
 */
import type { Shape } from "../shared/schemas/shapes.ts";

export type Point = [x: number, y: number];
export type RectShape = Extract<Shape, { type: "rect" }>;
export type PolygonShape = Extract<Shape, { type: "polygon" }>;
export type StrokeShape = Extract<Shape, { type: "stroke" }>;

export const shapes = {
  /** A filled rectangle: top-left corner, width and height. */
  rect: (x: number, y: number, width: number, height: number): RectShape => ({ type: "rect", x, y, width, height }),
  /** A filled polygon (nonzero winding), at least 3 points. */
  polygon: (points: Point[]): PolygonShape => ({ type: "polygon", points }),
  /** A brush stroke: a polyline `width` pixels wide with round joins and caps. */
  stroke: (points: Point[], width: number): StrokeShape => ({ type: "stroke", points, width }),
};
