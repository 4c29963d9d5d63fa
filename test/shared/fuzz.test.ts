/**
 * Property fuzzing (fast-check) of the parsers that see attacker bytes first: image header
 * sniffing, the edge <-> GPU protocol decoder, and the shapes rasteriser within its work bounds.
 * A fixed seed and a few hundred runs here; `npm run reliability` runs the same properties with
 * FUZZ_RUNS (and a fresh FUZZ_SEED) for a longer search. The multipart form reader runs in
 * workerd: test/workers/fuzz.test.ts.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { holeCount } from "../../shared/imaging/mask.ts";
import { checkShapesCost, MAX_SHAPE_POINTS, maxShapesWork, rasterizeShapes, shapesCost } from "../../shared/imaging/rasterize.ts";
import { looksComplete, readImageHeader, sniffFormat } from "../../shared/imaging/sniff.ts";
import { Problem } from "../../shared/problems.ts";
import {
  decodeInferRequest,
  decodeInferResponse,
  encodeInferRequest,
  encodeInferResponse,
  MAX_INFER_PIXELS,
  ProtocolError,
} from "../../shared/protocol.ts";
import type { Shape } from "../../shared/schemas/shapes.ts";

const RUNS = Number(process.env.FUZZ_RUNS) || 300;
const SEED = Number(process.env.FUZZ_SEED) || 20261210;
const params = (scale = 1) => ({ numRuns: Math.max(1, Math.round(RUNS * scale)), seed: SEED });

/** Image-like bytes: a real signature and header layout, then anything. */
const imageish = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc.tuple(fc.constantFrom(0, 1, 2), fc.uint8Array({ maxLength: 80 })).map(([k, tail]) => {
    const head =
      k === 0
        ? [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]
        : k === 1
          ? [0xff, 0xd8, 0xff]
          : [0x52, 0x49, 0x46, 0x46, 1, 0, 0, 0, 0x57, 0x45, 0x42, 0x50];
    return Uint8Array.from([...head, ...tail]);
  }),
);

describe("fuzz: image header sniffing", () => {
  it("never throws; any header it reads has whole, non-negative dimensions of the sniffed format", () => {
    fc.assert(
      fc.property(imageish, (b) => {
        const format = sniffFormat(b);
        const h = readImageHeader(b);
        if (format) looksComplete(b, format);
        if (h === null) return true;
        return (
          h.format === format &&
          Number.isInteger(h.width) &&
          Number.isInteger(h.height) &&
          h.width >= 0 &&
          h.height >= 0 &&
          h.width < 2 ** 32 &&
          h.height < 2 ** 32
        );
      }),
      params(3),
    );
  });

  it("reads back the size written into a PNG IHDR, a JPEG SOF and a WebP VP8X header", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 0xffff }),
        fc.integer({ min: 1, max: 0xffff }),
        fc.constantFrom("png", "jpeg", "webp"),
        (w, h, f) => {
          let b: number[];
          if (f === "png")
            b = [
              0x89,
              0x50,
              0x4e,
              0x47,
              0x0d,
              0x0a,
              0x1a,
              0x0a,
              0,
              0,
              0,
              13,
              0x49,
              0x48,
              0x44,
              0x52,
              0,
              0,
              w >> 8,
              w & 255,
              0,
              0,
              h >> 8,
              h & 255,
            ];
          else if (f === "jpeg")
            // SOI, an APP0 of 16 bytes, SOF0: length, precision, height, width.
            b = [0xff, 0xd8, 0xff, 0xe0, 0, 16, ...Array(14).fill(0), 0xff, 0xc0, 0, 17, 8, h >> 8, h & 255, w >> 8, w & 255, 3];
          else {
            const [w1, h1] = [w - 1, h - 1];
            b = [0x52, 0x49, 0x46, 0x46, 30, 0, 0, 0, 0x57, 0x45, 0x42, 0x50, 0x56, 0x50, 0x38, 0x58, 10, 0, 0, 0, 0, 0, 0, 0];
            b.push(w1 & 255, (w1 >> 8) & 255, w1 >> 16, h1 & 255, (h1 >> 8) & 255, h1 >> 16);
          }
          const got = readImageHeader(Uint8Array.from(b));
          return got?.format === f && got.width === w && got.height === h;
        },
      ),
      params(),
    );
  });
});

const requestHeader = fc.record({
  v: fc.constant(1 as const),
  width: fc.integer({ min: 1, max: 24 }),
  height: fc.integer({ min: 1, max: 24 }),
  request_id: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
});

describe("fuzz: edge <-> GPU protocol decoder", () => {
  it("arbitrary bytes decode to a consistent request/response or a ProtocolError, nothing else", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        for (const decode of [decodeInferRequest, decodeInferResponse]) {
          try {
            const r = decode(b);
            const px = r.header.width * r.header.height;
            if (r.rgb.length !== px * 3) return false;
            if ("mask" in r && r.mask.length !== px) return false;
          } catch (e) {
            if (!(e instanceof ProtocolError)) return false;
          }
        }
        return true;
      }),
      params(3),
    );
  });

  it("valid frames round-trip; truncated, extended or corrupted ones are refused or stay consistent", () => {
    fc.assert(
      fc.property(
        requestHeader,
        fc.integer({ min: 0, max: 1 << 30 }),
        fc.integer({ min: 0, max: 255 }),
        (header, where, value) => {
          const px = header.width * header.height;
          const rgb = Uint8Array.from({ length: px * 3 }, (_, i) => (i * 7) % 256);
          const mask = Uint8Array.from({ length: px }, (_, i) => i % 2);
          const frame = encodeInferRequest({ header, rgb, mask });
          const back = decodeInferRequest(frame);
          if (JSON.stringify(back.header) !== JSON.stringify(header) || back.rgb.join() !== rgb.join()) return false;
          const variants = [frame.subarray(0, where % frame.length), Uint8Array.from([...frame, value])];
          const flipped = frame.slice();
          flipped[where % frame.length] = value;
          variants.push(flipped);
          for (const v of variants) {
            try {
              const r = decodeInferRequest(v);
              if (r.rgb.length + r.mask.length !== 4 * r.header.width * r.header.height) return false;
              if (r.header.width * r.header.height > MAX_INFER_PIXELS) return false;
            } catch (e) {
              if (!(e instanceof ProtocolError)) return false;
            }
          }
          const res = {
            v: 1 as const,
            width: header.width,
            height: header.height,
            model: { name: "m", version: "1" },
            provider: "cpu",
            timing: { queue_ms: 0, inference_ms: 1, total_ms: 1 },
          };
          return decodeInferResponse(encodeInferResponse({ header: res, rgb })).rgb.join() === rgb.join();
        },
      ),
      params(),
    );
  });
});

const coord = fc.double({ min: -60, max: 160, noNaN: true, noDefaultInfinity: true });
const point = fc.tuple(coord, coord);
const shape: fc.Arbitrary<Shape> = fc.oneof(
  fc.record({
    type: fc.constant("rect" as const),
    x: coord,
    y: coord,
    width: fc.double({ min: 0.01, max: 200, noNaN: true }),
    height: fc.double({ min: 0.01, max: 200, noNaN: true }),
  }),
  fc.record({ type: fc.constant("polygon" as const), points: fc.array(point, { minLength: 3, maxLength: 40 }) }),
  fc.record({
    type: fc.constant("stroke" as const),
    points: fc.array(point, { minLength: 1, maxLength: 40 }),
    width: fc.double({ min: 0.01, max: 120, noNaN: true }),
  }),
);

describe("fuzz: shapes rasteriser within its bounds", () => {
  it("any document either draws within its counted cost or is refused with 422 mask-too-complex", () => {
    fc.assert(
      fc.property(
        fc.array(shape, { maxLength: 12 }),
        fc.integer({ min: 1, max: 120 }),
        fc.integer({ min: 1, max: 90 }),
        (shapes, w, h) => {
          const cost = shapesCost(shapes, w, h);
          let m: ReturnType<typeof rasterizeShapes>;
          try {
            m = rasterizeShapes(shapes, w, h);
          } catch (e) {
            return e instanceof Problem && e.kind === "mask-too-complex" && e.status === 422 && cost.work > maxShapesWork(w, h);
          }
          // Drawn: the budget held, and the pixels counted up front bound the pixels set.
          return cost.work <= maxShapesWork(w, h) && holeCount(m) <= cost.pixels && m.data.every((v) => v === 0 || v === 1);
        },
      ),
      params(),
    );
  });

  it("the point limit holds over all shapes, whatever the image", () => {
    const many = Array.from({ length: 4 }, () => ({
      type: "stroke" as const,
      width: 1,
      points: Array.from({ length: MAX_SHAPE_POINTS / 4 }, (_, i): [number, number] => [i % 7, 3]),
    }));
    expect(() => checkShapesCost(many, 10, 10)).not.toThrow();
    many[0].points.push([1, 1]);
    const e = (() => {
      try {
        checkShapesCost(many, 4000, 3000);
      } catch (err) {
        return err as Problem;
      }
    })();
    expect(e?.kind).toBe("mask-too-complex");
    expect(e?.extensions).toMatchObject({ points: MAX_SHAPE_POINTS + 1, max_points: MAX_SHAPE_POINTS });
  });
});
