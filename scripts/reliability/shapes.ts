/**
 * The slowest mask_shapes documents the work bound still accepts, drawn on an 8 MP image: a
 * stack of full-image rectangles, a zigzag polygon whose every edge crosses every row, and a
 * random-walk brush stroke, each grown until one more piece would be refused. Their time is what
 * a hostile but accepted request costs the isolate (the bound is in shared/imaging/rasterize.ts).
 */
import { maxShapesWork, rasterizeShapes, shapesCost } from "../../shared/imaging/rasterize.ts";
import type { Shape } from "../../shared/schemas/shapes.ts";

export interface ShapesAtBudget {
  width: number;
  height: number;
  cases: { name: string; work: number; ms: number; refusedWhenGrown: boolean }[];
}

/** The largest n for which make(n) stays within the budget. */
function grow(make: (n: number) => Shape[], w: number, h: number, max: number): number {
  let lo = 1;
  let hi = 1;
  while (shapesCost(make(hi), w, h).work <= max && hi < 1 << 20) hi *= 2;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (shapesCost(make(mid), w, h).work <= max) lo = mid;
    else hi = mid;
  }
  return lo;
}

export function shapesAtBudget(): ShapesAtBudget {
  const width = 3464;
  const height = 2309; // 8.0 MP, the deployed limit
  const max = maxShapesWork(width, height);
  let s = 12345;
  const rnd = () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32;
  };
  const walk: [number, number][] = [];
  for (let i = 0, x = width / 2, y = height / 2; i < 10_000; i++) {
    x = Math.min(width, Math.max(0, x + (rnd() - 0.5) * 80));
    y = Math.min(height, Math.max(0, y + (rnd() - 0.5) * 80));
    walk.push([x, y]);
  }
  const makers: [string, (n: number) => Shape[]][] = [
    ["full-image rectangles", (n) => Array.from({ length: n }, () => ({ type: "rect", x: 0, y: 0, width, height }))],
    [
      "zigzag polygon (every edge crosses every row)",
      (n) => [
        {
          type: "polygon",
          points: Array.from({ length: Math.max(3, n) }, (_, i) => [(i * width) / Math.max(3, n), i % 2 ? 0 : height]),
        },
      ],
    ],
    ["random-walk stroke, 40 px wide", (n) => [{ type: "stroke", width: 40, points: walk.slice(0, Math.min(n, walk.length)) }]],
  ];
  const cases = makers.map(([name, make]) => {
    const n = grow(make, width, height, max);
    const shapes = make(n);
    const times: number[] = [];
    for (let k = 0; k < 3; k++) {
      const t = performance.now();
      rasterizeShapes(shapes, width, height);
      times.push(performance.now() - t);
    }
    let refusedWhenGrown = false;
    try {
      rasterizeShapes(make(n + 1), width, height);
    } catch {
      refusedWhenGrown = true;
    }
    return {
      name: `${name} (${n})`,
      work: shapesCost(shapes, width, height).work,
      ms: times.sort((a, b) => a - b)[1],
      refusedWhenGrown,
    };
  });
  return { width, height, cases };
}
