/**
 * Property fuzzing (fast-check) inside workerd: the multipart form reader of /v1/inpaint and
 * /v1/jobs, and the upload inspection that runs before any decode. Whatever the body, the answer
 * is a typed 4xx problem or a form whose every field is a known option, given once. Runs and seed
 * come from FUZZ_RUNS / FUZZ_SEED (test/workers/node/global-setup.ts); `npm run reliability`
 * raises them.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Problem } from "../../shared/problems.ts";
import { InpaintOptions } from "../../shared/schemas/options.ts";
import { EDGE_FORMATS, encodeImage, inspectUpload } from "../../workers/codecs.ts";
import { uploadLimits } from "../../workers/env.ts";
import { readInpaintForm } from "../../workers/form.ts";
import { fuzzParams } from "./fuzz-params.ts";
import { boxMask, photo } from "./helpers.ts";

const params = fuzzParams;

const OPTION_NAMES = Object.keys(InpaintOptions.shape);
const JOB_EXTRAS = ["webhook", "webhook_events_filter"];
const png = await encodeImage(photo(8, 6), "png", 90);
const maskPng = await encodeImage(boxMask(8, 6, { x: 2, y: 2, width: 3, height: 2 }), "png", 90);

type Part = { name: string; value: string | Uint8Array };

const name = fc.oneof(
  fc.constantFrom(...OPTION_NAMES, ...JOB_EXTRAS, "image", "mask", "image_id", "mask_shapes"),
  fc.constantFrom("__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "valueOf", ""),
  fc.string({ maxLength: 12 }),
);
const value = fc.oneof(
  fc.constantFrom("1", "0", "true", "false", "png", "jpeg", "crop", "resize", "-3", "1e9", "NaN", "", " ", "null"),
  fc.constantFrom('{"shapes":[]}', '{"shapes":[{"type":"rect","x":1,"y":1,"width":2,"height":2}]}', '{"shapes":{}}', "[]"),
  fc.constant("a".repeat(64)),
  fc.string({ maxLength: 24 }),
);
const part: fc.Arbitrary<Part> = fc.oneof(
  fc.record({ name, value }),
  fc.record({ name, value: fc.constantFrom<string | Uint8Array>(png, maskPng, new Uint8Array([1, 2, 3])) }),
);

function formOf(parts: Part[]): FormData {
  const f = new FormData();
  for (const p of parts)
    if (typeof p.value === "string") f.append(p.name, p.value);
    else f.append(p.name, new Blob([p.value as Uint8Array<ArrayBuffer>]), `${p.name || "x"}.bin`);
  return f;
}

const post = (body: BodyInit, headers?: Record<string, string>) =>
  new Request("https://edge.test/v1/inpaint", { method: "POST", body, headers });

/** A 4xx Problem (never a 5xx, never another error). */
const clientProblem = (e: unknown) => e instanceof Problem && e.status >= 400 && e.status < 500;

describe("fuzz: multipart form reader", () => {
  it("a form is read only when every field is known and given once; anything else is a 4xx problem", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(part, { maxLength: 8 }), fc.boolean(), async (parts, asJob) => {
        const extra = asJob ? JOB_EXTRAS : [];
        let req: Request;
        try {
          req = post(formOf(parts));
        } catch {
          // workerd will not serialise some names (one ending in a backslash): not a request a client can send this way.
          fc.pre(false);
          return true;
        }
        let form: Awaited<ReturnType<typeof readInpaintForm>>;
        try {
          form = await readInpaintForm(req, extra);
        } catch (e) {
          return clientProblem(e);
        }
        const names = parts.map((p) => p.name);
        const known = new Set([...OPTION_NAMES, ...extra, "image", "mask", "image_id", "mask_shapes"]);
        if (!names.every((n) => known.has(n))) return false;
        if (new Set(names).size !== names.length) return false;
        if ((form.image === undefined) === (form.imageId === undefined)) return false;
        if ((form.mask === undefined) === (form.shapes === undefined)) return false;
        // Extras are exactly the job fields that were sent, as own properties.
        return Object.keys(form.extras).every((k) => extra.includes(k) && names.includes(k));
      }),
      params(),
    );
  });

  it("raw bytes as a multipart body are a 400/415 problem or a consistent form, never a 5xx", async () => {
    const boundary = "fuzzboundary";
    const piece = fc.oneof(
      fc.constantFrom(
        `--${boundary}\r\n`,
        `--${boundary}--\r\n`,
        'Content-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n',
        'Content-Disposition: form-data; name="mask_shapes"\r\n\r\n',
        'Content-Disposition: form-data; name="__proto__"\r\n\r\n',
        "\r\n",
        '{"shapes":[]}',
      ),
      fc.string({ maxLength: 30 }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(piece, { maxLength: 12 }),
        fc.constantFrom(`multipart/form-data; boundary=${boundary}`, "multipart/form-data", "text/plain"),
        async (pieces, type) => {
          try {
            await readInpaintForm(post(pieces.join(""), { "content-type": type }));
            return type.includes("boundary=");
          } catch (e) {
            return clientProblem(e);
          }
        },
      ),
      params(),
    );
  });
});

describe("fuzz: upload inspection", () => {
  it("arbitrary bytes are refused with 413/415/422 or accepted with a header within the limits", () => {
    const limits = uploadLimits({});
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.uint8Array({ maxLength: 64 }).map((t) => Uint8Array.from([...png.subarray(0, 33), ...t])),
      fc.uint8Array({ maxLength: 64 }).map((t) => Uint8Array.from([0xff, 0xd8, 0xff, ...t, 0xff, 0xd9])),
      fc.integer({ min: 0, max: png.length }).map((n) => png.subarray(0, n)),
    );
    fc.assert(
      fc.property(bytes, (b) => {
        try {
          const h = inspectUpload(b, "image", limits, EDGE_FORMATS);
          return h.width > 0 && h.height > 0 && h.width <= limits.maxSide && h.width * h.height <= limits.maxMegapixels * 1e6;
        } catch (e) {
          return e instanceof Problem && [413, 415, 422].includes(e.status);
        }
      }),
      params(3),
    );
  });
});

describe("fuzz: the known good cases still pass", () => {
  it("image + mask + a valid option is read", async () => {
    const form = await readInpaintForm(
      post(
        formOf([
          { name: "image", value: png },
          { name: "mask", value: maskPng },
          { name: "dilate", value: "2" },
        ]),
      ),
    );
    expect(form.options.dilate).toBe(2);
  });
});
