/**
 * The widget's edits (web/widget/edits.ts), pure: undo/redo, shapes vs a raster after the eraser,
 * and the move from the picture as shown to the stored grid of an EXIF-oriented JPEG, checked
 * against the API's own orientation (shared/imaging/exif.ts) for all eight orientations.
 */
import { describe, expect, it } from "vitest";
import { orientMask, swapsAxes } from "../../shared/imaging/exif.ts";
import { EditHistory, toShape, toStoredFrame } from "../../web/widget/edits.ts";

describe("widget edits", () => {
  it("undo and redo; a new edit drops the redo stack", () => {
    const h = new EditHistory();
    h.push({ tool: "rect", x: 1, y: 1, width: 2, height: 2 });
    h.push({ tool: "brush", width: 3, points: [[4, 4]] });
    expect(h.undo()?.tool).toBe("brush");
    expect([h.canUndo, h.canRedo]).toEqual([true, true]);
    h.push({ tool: "rect", x: 0, y: 0, width: 1, height: 1 });
    expect(h.canRedo).toBe(false);
    expect(h.edits).toHaveLength(2);
  });

  it("strokes and boxes travel as shapes; after the eraser, as a raster with the erased pixels cleared", () => {
    const h = new EditHistory();
    h.push({ tool: "rect", x: 2, y: 2, width: 6, height: 4 });
    expect(h.payload(10, 8)).toEqual({ kind: "shapes", shapes: [{ type: "rect", x: 2, y: 2, width: 6, height: 4 }] });
    h.push({
      tool: "eraser",
      width: 2,
      points: [
        [5, 0],
        [5, 8],
      ],
    });
    const p = h.payload(10, 8);
    expect(p.kind).toBe("raster");
    if (p.kind !== "raster") return;
    expect(p.mask.data[3 * 10 + 2]).toBe(1);
    expect(p.mask.data[3 * 10 + 5]).toBe(0);
    expect(p.mask.data.reduce((a, b) => a + b, 0)).toBeLessThan(24);
    expect(p.mask.data.reduce((a, b) => a + b, 0)).toBeGreaterThan(12);
  });

  it("edits on the upright picture land where the API's orientation puts them (EXIF 1-8)", () => {
    const W = 9;
    const H = 6; // the stored grid
    const shown = [
      { tool: "rect" as const, x: 1, y: 0, width: 3, height: 2 },
      { tool: "rect" as const, x: 2, y: 3, width: 1, height: 3 },
    ];
    for (let o = 1; o <= 8; o++) {
      const [sw, sh] = swapsAxes(o) ? [H, W] : [W, H];
      const upright = new EditHistory();
      const stored = new EditHistory();
      for (const e of shown) {
        upright.push(e);
        stored.push(toStoredFrame(e, o, W, H));
      }
      const oriented = orientMask(stored.raster(W, H), o);
      const expected = upright.raster(sw, sh);
      expect([oriented.width, oriented.height], `orientation ${o}`).toEqual([sw, sh]);
      expect(Array.from(oriented.data), `orientation ${o}`).toEqual(Array.from(expected.data));
      expect(expected.data.reduce((a, b) => a + b, 0)).toBe(9);
      const p = upright.payload(W, H, o);
      expect(p).toEqual({ kind: "shapes", shapes: stored.edits.map(toShape) });
    }
  });
});
