/**
 * What the user marked, as a list of edits with undo and redo, and how it travels: as shapes
 * (`mask_shapes`, a few hundred bytes) while it is only brush strokes and rectangles, as a mask
 * raster (a PNG) once the eraser has cut into it. Pure: no DOM, tested in Node.
 */

import { rasterizeShapes } from "../../shared/imaging/rasterize.ts";
import { type Mask, newMask } from "../../shared/imaging/types.ts";
import type { Point, Shape } from "../../shared/schemas/shapes.ts";

export type Tool = "brush" | "eraser" | "rect";

export type Edit =
  | { tool: "brush" | "eraser"; width: number; points: Point[] }
  | { tool: "rect"; x: number; y: number; width: number; height: number };

/** The mask as the API takes it: shapes when it can be, a raster otherwise. */
export type MaskPayload = { kind: "shapes"; shapes: Shape[] } | { kind: "raster"; mask: Mask };

const round = (v: number) => Math.round(v * 100) / 100;

/** One edit as an API shape (strokes keep their width; points rounded to 1/100 px). */
export function toShape(e: Edit): Shape {
  if (e.tool === "rect") return { type: "rect", x: round(e.x), y: round(e.y), width: round(e.width), height: round(e.height) };
  return { type: "stroke", width: round(e.width), points: e.points.map(([x, y]) => [round(x), round(y)] as Point) };
}

/**
 * An edit drawn on the upright picture (as the browser shows a JPEG with EXIF orientation), moved
 * to the stored pixel grid that the API's `mask_shapes` and PNG masks use. `width` and `height`
 * are the stored grid's; the mapping is the inverse of shared/imaging/exif.ts's orientation, in
 * continuous coordinates (the API orients the image and the mask before inpainting).
 */
export function toStoredFrame(e: Edit, orientation: number, width: number, height: number): Edit {
  if (orientation <= 1 || orientation > 8) return e;
  const w = width;
  const h = height;
  const map: Record<number, (x: number, y: number) => Point> = {
    2: (x, y) => [w - x, y],
    3: (x, y) => [w - x, h - y],
    4: (x, y) => [x, h - y],
    5: (x, y) => [y, x],
    6: (x, y) => [y, h - x],
    7: (x, y) => [w - y, h - x],
    8: (x, y) => [w - y, x],
  };
  const f = map[orientation];
  if (e.tool !== "rect") return { ...e, points: e.points.map(([x, y]) => f(x, y)) };
  const [ax, ay] = f(e.x, e.y);
  const [bx, by] = f(e.x + e.width, e.y + e.height);
  return { tool: "rect", x: Math.min(ax, bx), y: Math.min(ay, by), width: Math.abs(bx - ax), height: Math.abs(by - ay) };
}

export class EditHistory {
  private done: Edit[] = [];
  private undone: Edit[] = [];

  get edits(): readonly Edit[] {
    return this.done;
  }
  get canUndo(): boolean {
    return this.done.length > 0;
  }
  get canRedo(): boolean {
    return this.undone.length > 0;
  }
  get isEmpty(): boolean {
    return !this.done.some((e) => e.tool !== "eraser");
  }

  push(e: Edit): void {
    this.done.push(e);
    this.undone = [];
  }
  undo(): Edit | undefined {
    const e = this.done.pop();
    if (e) this.undone.push(e);
    return e;
  }
  redo(): Edit | undefined {
    const e = this.undone.pop();
    if (e) this.done.push(e);
    return e;
  }
  clear(): void {
    this.done = [];
    this.undone = [];
  }

  /**
   * Shapes while no eraser was used, else the raster (edits applied in order). `orientation`: the
   * picture's EXIF orientation, when the mask is for the API (stored grid, `width` x `height`).
   */
  payload(width: number, height: number, orientation = 1): MaskPayload {
    const edits = this.done.map((e) => toStoredFrame(e, orientation, width, height));
    if (!edits.some((e) => e.tool === "eraser")) return { kind: "shapes", shapes: edits.map(toShape) };
    return { kind: "raster", mask: rasterEdits(edits, width, height) };
  }

  /** The edits as a mask, 1 = hole, on the picture as shown. */
  raster(width: number, height: number): Mask {
    return rasterEdits(this.done, width, height);
  }
}

/** Edits in order as a mask, 1 = hole: the same rasteriser as the API's (shared/imaging/rasterize.ts). */
function rasterEdits(edits: readonly Edit[], width: number, height: number): Mask {
  const m = newMask(width, height);
  for (const e of edits) {
    if (e.tool !== "eraser") {
      rasterizeShapes([toShape(e)], width, height, m);
      continue;
    }
    const cut = rasterizeShapes([toShape(e)], width, height);
    for (let i = 0; i < cut.data.length; i++) if (cut.data[i]) m.data[i] = 0;
  }
  return m;
}
