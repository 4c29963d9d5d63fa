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

  /** Shapes while no eraser was used, else the raster (edits applied in order on the image grid). */
  payload(width: number, height: number): MaskPayload {
    if (!this.done.some((e) => e.tool === "eraser")) return { kind: "shapes", shapes: this.done.map(toShape) };
    return { kind: "raster", mask: this.raster(width, height) };
  }

  /** The edits as a mask, 1 = hole: the same rasteriser as the API's (shared/imaging/rasterize.ts). */
  raster(width: number, height: number): Mask {
    const m = newMask(width, height);
    for (const e of this.done) {
      if (e.tool !== "eraser") {
        rasterizeShapes([toShape(e)], width, height, m);
        continue;
      }
      const cut = rasterizeShapes([toShape(e)], width, height);
      for (let i = 0; i < cut.data.length; i++) if (cut.data[i]) m.data[i] = 0;
    }
    return m;
  }
}
