/**
 * One inpaint call: header checks (no decode yet) -> normalised mask -> (metered callers:
 * Idempotency-Key, credit hold) -> cache key -> 304 / cache hit / coalesced wait -> decode, EXIF
 * orientation -> shared pipeline, whose per-region inference is a GPU backend call -> encode ->
 * store. Only hole pixels change. Used by POST /v1/inpaint and by job runs (workers/jobs/).
 */
import { jpegOrientation, orientImage, orientMask } from "../shared/imaging/exif.ts";
import { holeCount, maskFromImage } from "../shared/imaging/mask.ts";
import { type InferFn, inpaintPipeline, prepareMask } from "../shared/imaging/pipeline.ts";
import { rgbaToRgb, rgbToRgba } from "../shared/imaging/pixels.ts";
import { rasterizeShapes } from "../shared/imaging/rasterize.ts";
import { resizeMask } from "../shared/imaging/resize.ts";
import type { Mask, RgbaImage } from "../shared/imaging/types.ts";
import { Problem } from "../shared/problems.ts";
import { PROTOCOL_VERSION } from "../shared/protocol.ts";
import type { InpaintOptions } from "../shared/schemas/options.ts";
import type { MaskShapes } from "../shared/schemas/shapes.ts";
import type { Meter } from "./billing/meter.ts";
import { type CacheStatus, cacheKey, canonicalJson, etagOf, lookupResult, matchesEtag, sha256Hex, storeResult } from "./cache.ts";
import type { JoinResult } from "./coalesce.ts";
import { decodeUpload, EDGE_FORMATS, type EdgeFormat, encodeImage, type ImageHeader, inspectUpload, MIME } from "./codecs.ts";
import { type Bindings, maxMaskRatio, uploadLimits } from "./env.ts";
import type { InpaintForm } from "./form.ts";
import { backendFor } from "./gpu/index.ts";
import { noteServedModel, servedModel } from "./model-info.ts";
import { Timings } from "./timing.ts";
import { loadUpload, uploadHeader } from "./uploads.ts";

const EMPTY = new Uint8Array(0);

/** A response from bytes (or none), a status and headers. */
const reply = (body: ArrayBuffer | Uint8Array | ReadableStream | null, status: number, headers: Record<string, string>) =>
  new Response(body as BodyInit | null, { status, headers });

/** A follower waits at most one GPU call (plus slack) for its leader before computing itself. */
const COALESCE_SLACK_MS = 5_000;

/** The binary mask after mask_source / invert / mask_resize (before erode/dilate), and its hash. */
interface NormalisedMask {
  /** SHA-256 of the normalised mask: of its pixels for a PNG, of the canonical shapes document for shapes. */
  sha256: string;
  /** Known empty before erode/dilate (which cannot create holes from nothing). */
  empty: boolean;
  build(image: ImageHeader): Mask;
}

function invertInPlace(m: Mask): Mask {
  for (let i = 0; i < m.data.length; i++) m.data[i] ^= 1;
  return m;
}

/**
 * Shapes are hashed as their canonical JSON, not as pixels: a cache hit then costs no 12 MP
 * raster. The same key always means the same raster (invert is an option in the key).
 */
async function shapesMask(doc: MaskShapes, o: InpaintOptions): Promise<NormalisedMask> {
  return {
    sha256: await sha256Hex(`shapes:${canonicalJson(doc)}`),
    empty: doc.shapes.length === 0 && !o.invert_mask,
    build: (ih) => {
      const m = rasterizeShapes(doc.shapes, ih.width, ih.height);
      return o.invert_mask ? invertInPlace(m) : m;
    },
  };
}

async function pngMask(bytes: Uint8Array, ih: ImageHeader, o: InpaintOptions, env: Bindings): Promise<NormalisedMask> {
  const mh = inspectUpload(bytes, "mask", uploadLimits(env), ["png"]);
  const sameSize = mh.width === ih.width && mh.height === ih.height;
  if (!sameSize && !o.mask_resize)
    throw new Problem(
      "mask-mismatch",
      `mask is ${mh.width}x${mh.height} but the image is ${ih.width}x${ih.height} (set mask_resize=true to scale it)`,
      { image: { width: ih.width, height: ih.height }, mask: { width: mh.width, height: mh.height } },
    );
  let m = maskFromImage(await decodeUpload(bytes, mh, "mask"), o.mask_source, o.invert_mask);
  if (!sameSize) m = resizeMask(m, ih.width, ih.height);
  return { sha256: await sha256Hex(m.data), empty: holeCount(m) === 0, build: () => m };
}

/** What runInpaint needs of the request besides the form (a job run has no HTTP request). */
export interface RunContext {
  requestId: string;
  /** Metered callers of the synchronous route: Idempotency-Key and the credit hold. */
  meter?: Pick<Meter, "claim" | "reserve">;
  cacheControl?: string;
  ifNoneMatch?: string;
}

/**
 * One inpaint call, from a read form to the response: the synchronous route answers it as is,
 * a job run stores its body. Problems are thrown (workers/app.ts renders them).
 */
export async function runInpaint(env: Bindings, form: InpaintForm, ctx: RunContext): Promise<Response> {
  const t = new Timings();
  const requestId = ctx.requestId;
  const o = form.options;
  // Everything up to the decode reads headers only: bombs and mismatches cost nothing. The bytes
  // of an upload id are read on a miss only (a holder, so they can be let go of once decoded).
  const upload: { bytes?: Uint8Array } = { bytes: form.image };
  form.image = undefined;
  const imageBytes = async () => {
    upload.bytes ??= await loadUpload(env, form.imageId as string);
    return upload.bytes;
  };
  // By id, the header is the upload's R2 metadata, read only when needed: a hit by id with
  // shapes touches nothing of the upload.
  let ihKnown = upload.bytes ? inspectUpload(upload.bytes, "image", uploadLimits(env), EDGE_FORMATS) : undefined;
  const header = async () => {
    ihKnown ??= await uploadHeader(env, form.imageId as string);
    return ihKnown;
  };
  const imageSha = form.imageId ?? (await sha256Hex(upload.bytes as Uint8Array));
  t.mark("read");
  const nm = form.shapes ? await shapesMask(form.shapes, o) : await pngMask(form.mask as Uint8Array, await header(), o, env);
  form.mask = undefined;
  t.mark("mask");
  // Metered callers: a repeated Idempotency-Key answers its stored response (uncharged).
  const meter = ctx.meter;
  const replay = await meter?.claim(await sha256Hex(canonicalJson({ image: imageSha, mask: nm.sha256, options: o })));
  if (replay) return reply(replay.body, replay.status, { ...replay.headers, "Idempotent-Replayed": "true" });

  const passThrough = async () =>
    // Nothing to fill: the upload itself, byte for byte (EXIF included), no GPU call, nothing cached.
    reply(await imageBytes(), 200, {
      "Content-Type": MIME[(await header()).format],
      "X-Cache": "BYPASS" satisfies CacheStatus,
      "X-Inpaint-Regions": "0",
      "Server-Timing": t.header(),
    });
  if (nm.empty && (!o.output_format || o.output_format === (await header()).format)) return passThrough();
  // Credits are held before the cache or the GPU is touched: 402 costs no GPU work.
  if (meter) {
    const { width, height } = await header();
    await meter.reserve(width, height);
  }

  const backend = backendFor(env);
  const keyModel = o.model?.includes("@") ? o.model : await servedModel(env, backend);
  // The input's format is fixed by the image hash, so "as the input" is a format of its own here.
  const keyParts = { image: imageSha, mask: nm.sha256, model: keyModel, options: o, format: o.output_format ?? "input" };
  let key = await cacheKey(keyParts);
  t.mark("key");
  const bypass = /no-store|no-cache/i.test(ctx.cacheControl ?? "");

  if (!bypass) {
    if (matchesEtag(ctx.ifNoneMatch ?? null, key))
      return reply(null, 304, { ETag: etagOf(key), "X-Cache": "HIT" satisfies CacheStatus });
    const hit = await lookupResult(env, key);
    t.mark("cache");
    if (hit)
      return reply(hit.body, 200, {
        "Content-Type": hit.contentType,
        ETag: etagOf(key),
        "X-Cache": "HIT" satisfies CacheStatus,
        "X-Model": hit.model,
        "X-Inpaint-Regions": hit.regions,
        "Server-Timing": t.header(),
      });
  }

  // A miss: identical requests in flight wait for the first one (workers/coalesce.ts).
  const gate = bypass ? undefined : env.COALESCER.get(env.COALESCER.idFromName(key));
  let role: JoinResult = "lead";
  if (gate) {
    role = await gate.join(Number(env.GPU_TIMEOUT_MS || 120_000) + COALESCE_SLACK_MS);
    t.mark("coalesce");
    if (role === "done") {
      const hit = await lookupResult(env, key);
      if (hit)
        return reply(hit.body, 200, {
          "Content-Type": hit.contentType,
          ETag: etagOf(key),
          "X-Cache": "MISS" satisfies CacheStatus,
          "X-Coalesced": "1",
          "X-Model": hit.model,
          "X-Inpaint-Regions": hit.regions,
          "Server-Timing": t.header(),
        });
    }
  }

  let stored = false;
  try {
    const ih = await header();
    const format: EdgeFormat = o.output_format ?? ih.format;
    const headers: Record<string, string> = { "Content-Type": MIME[format] };
    let mask: Mask | undefined = prepareMask(nm.build(ih), o);
    const holes = holeCount(mask);
    const ratio = holes / (ih.width * ih.height);
    const limit = maxMaskRatio(env);
    if (ratio > limit)
      throw new Problem(
        "mask-too-large",
        `the mask covers ${(100 * ratio).toFixed(1)}% of the image (after erode/dilate); the limit is ${(100 * limit).toFixed(0)}%: ` +
          "inpainting fills holes from their surroundings, and this leaves too little to work from",
        { coverage: Math.round(ratio * 1e4) / 1e4, max_ratio: limit },
      );
    if (holes === 0 && format === ih.format) return passThrough();
    t.mark("mask");

    const orientation = ih.format === "jpeg" ? jpegOrientation(await imageBytes()) : 1;
    let image: RgbaImage | undefined = await decodeUpload(await imageBytes(), ih, "image");
    upload.bytes = EMPTY;
    if (orientation !== 1) {
      // Upright pixels: EXIF is not copied to the output, so the rotation must be in them.
      image = orientImage(image, orientation);
      mask = orientMask(mask, orientation);
    }
    t.mark("decode");

    let model = "";
    let provider = "";
    const infer: InferFn = async (part, pmask) => {
      const sent = Date.now();
      const res = await backend.infer(
        {
          header: { v: PROTOCOL_VERSION, width: part.width, height: part.height, model: o.model, request_id: requestId },
          rgb: rgbaToRgb(part),
          mask: pmask.data,
        },
        { requestId },
      );
      t.add("gpu", Date.now() - sent);
      t.add("gpu-queue", res.header.timing.queue_ms);
      t.add("gpu-inference", res.header.timing.inference_ms);
      model = `${res.header.model.name}@${res.header.model.version}`;
      provider = res.header.provider;
      return rgbToRgba(res.rgb, part.width, part.height);
    };
    // In place, with the prepared mask: no second full-size RGBA copy (docs/api.md, memory).
    const { regions } = await inpaintPipeline(image, mask, o, infer, undefined, { inPlace: true, prepared: true });
    mask = undefined;
    t.mark("pipeline");
    const bytes = await encodeImage(image, format, o.jpeg_quality);
    image = undefined;
    t.mark("encode");

    if (model && !o.model && model !== keyModel) {
      // The function serves another version than we believed: key the result by the real one.
      noteServedModel(env, model);
      key = await cacheKey({ ...keyParts, model });
    }
    const resultModel = model || keyModel;
    if (!bypass && regions.length > 0) {
      await storeResult(env, key, bytes, { contentType: MIME[format], model: resultModel, regions: String(regions.length) });
      stored = true;
      t.mark("store");
    }
    t.add("edge", Date.now() - t.start - t.get("gpu"));
    if (model) headers["X-Model"] = model;
    if (provider) headers["X-Gpu-Provider"] = provider;
    return reply(bytes, 200, {
      ...headers,
      ETag: etagOf(key),
      "X-Cache": (bypass || regions.length === 0 ? "BYPASS" : "MISS") satisfies CacheStatus,
      "X-Inpaint-Regions": String(regions.length),
      "Server-Timing": t.header(),
    });
  } finally {
    if (gate && role === "lead") await gate.finish(stored);
  }
}
