/**
 * The shipped model in the page (onnxruntime-web): WebGPU when the browser has an adapter, else
 * WASM, with threads when the page is cross-origin isolated. The model and the WASM binary are
 * fetched once, with progress, and kept in Cache Storage; the image math is the edge's own
 * (shared/imaging: mask preparation, HD planning, padding, composite), so the result differs
 * from the API's only by the runtimes' floating point.
 */
import type * as Ort from "onnxruntime-web";
import { fillRegion, finishFill, planWork, prepareMask } from "../../shared/imaging/pipeline.ts";
import type { WorkRegion } from "../../shared/imaging/plan.ts";
import { rasterizeShapes } from "../../shared/imaging/rasterize.ts";
import { fromModelOutput, SIZE_MULTIPLE, toModelInput } from "../../shared/imaging/tensor.ts";
import type { Mask, RgbaImage } from "../../shared/imaging/types.ts";
import { InpaintOptions } from "../../shared/schemas/options.ts";
import type { MaskPayload } from "./edits.ts";

export interface LocalProgress {
  /** What is being fetched: the runtime's WASM binary or the model. */
  file: "runtime" | "model";
  loaded: number;
  /** Bytes expected (0: not known). */
  total: number;
  done: boolean;
  cached: boolean;
}

export interface LocalModelOptions {
  /** Base URL of the widget's assets (ort/ and models/ below it). */
  assets: string;
  /** The ONNX model (default: the one the build put beside the widget). */
  modelUrl: string;
  /** Its size, for progress when the server sends no Content-Length. */
  modelBytes?: number;
  onProgress?: (p: LocalProgress) => void;
  /**
   * Run ONNX Runtime in its own worker (`env.wasm.proxy`; default true). The widget runs the whole
   * model in a worker of its own (local-worker.ts, which it can terminate to cancel) and sets false.
   */
  proxy?: boolean;
}

/** How the runtime runs: what the page can use of WASM SIMD, threads and WebGPU. */
export interface Backend {
  /** "webgpu", or "wasm (SIMD, 2 threads)". */
  backend: string;
  simd: boolean;
  threads: number;
  crossOriginIsolated: boolean;
}

/** One step of an in-page run: regions done of all, and the stage. */
export interface LocalStep {
  stage: "decoding" | "inference" | "encoding";
  done: number;
  total: number;
  /** Padded model-input pixels of the regions done and of all. */
  pixelsDone: number;
  pixelsTotal: number;
}

/** The model's input pixels for one region (padded as toModelInput pads). */
const pad = (n: number) => Math.ceil(n / SIZE_MULTIPLE) * SIZE_MULTIPLE;
export const workPixels = (r: WorkRegion): number => pad(r.workWidth) * pad(r.workHeight);

/** WASM SIMD (a v128 function): ONNX Runtime Web ships SIMD builds only, this says so honestly. */
export const wasmSimd = (): boolean =>
  WebAssembly.validate(
    new Uint8Array([
      0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11,
    ]),
  );

const CACHE = "gmcnn-inpaint-v1";
const isGzip = (b: Uint8Array) => b[0] === 0x1f && b[1] === 0x8b;

/** Bytes of `url`, from Cache Storage when there, else fetched with progress and stored. */
async function cachedBytes(
  url: string,
  file: LocalProgress["file"],
  onProgress?: (p: LocalProgress) => void,
  expected = 0,
): Promise<Uint8Array> {
  const cache = typeof caches === "undefined" ? undefined : await caches.open(CACHE).catch(() => undefined);
  const hit = await cache?.match(url);
  if (hit) {
    const b = new Uint8Array(await hit.arrayBuffer());
    onProgress?.({ file, loaded: b.length, total: b.length, done: true, cached: true });
    return b;
  }
  const res = await fetch(url);
  if (!res.ok || !res.body) throw new Error(`could not fetch ${url}: HTTP ${res.status}`);
  const total = Number(res.headers.get("content-length")) || expected;
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    onProgress?.({ file, loaded, total: total && Math.max(total, loaded), done: false, cached: false });
  }
  const bytes = new Uint8Array(loaded);
  let o = 0;
  for (const c of chunks) {
    bytes.set(c, o);
    o += c.length;
  }
  await cache?.put(url, new Response(bytes, { headers: { "Content-Type": "application/octet-stream" } })).catch(() => undefined);
  onProgress?.({ file, loaded, total: loaded, done: true, cached: false });
  return bytes;
}

async function gunzip(b: Uint8Array): Promise<Uint8Array> {
  if (!isGzip(b)) return b; // already decoded by the HTTP layer
  const stream = new Blob([b as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function hasWebGpu(): Promise<boolean> {
  const gpu = (navigator as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  if (!gpu) return false;
  try {
    return (await gpu.requestAdapter()) != null;
  } catch {
    return false;
  }
}

/** Decodes an image file to RGBA as stored (no colour conversion, no premultiplication). */
export async function decodeRgba(blob: Blob): Promise<RgbaImage> {
  const bmp = await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  const canvas = new OffscreenCanvas(bmp.width, bmp.height);
  const ctx = canvas.getContext("2d", { colorSpace: "srgb" }) as OffscreenCanvasRenderingContext2D;
  ctx.drawImage(bmp, 0, 0);
  const d = ctx.getImageData(0, 0, bmp.width, bmp.height);
  bmp.close();
  return { width: d.width, height: d.height, data: d.data };
}

export async function encodePng(img: RgbaImage): Promise<Blob> {
  const canvas = new OffscreenCanvas(img.width, img.height);
  const ctx = canvas.getContext("2d") as OffscreenCanvasRenderingContext2D;
  ctx.putImageData(new ImageData(img.data as Uint8ClampedArray<ArrayBuffer>, img.width, img.height), 0, 0);
  return canvas.convertToBlob({ type: "image/png" });
}

export class LocalModel {
  private ready?: Promise<{ ort: typeof Ort; session: Ort.InferenceSession } & Backend>;
  constructor(private readonly o: LocalModelOptions) {}

  /** Downloads (or reads from the cache) the runtime and the model and opens a session, once. */
  prepare(): Promise<Backend> {
    this.ready ??= this.open().catch((e) => {
      this.ready = undefined; // a later call may try again (e.g. once back online)
      throw e;
    });
    return this.ready.then(({ backend, simd, threads, crossOriginIsolated }) => ({
      backend,
      simd,
      threads,
      crossOriginIsolated,
    }));
  }

  private async opened() {
    await this.prepare();
    return this.ready as NonNullable<typeof this.ready>;
  }

  private async open() {
    const gpu = await hasWebGpu();
    const base = this.o.assets.replace(/\/$/, "");
    const [bundle, wasm] = gpu
      ? ["ort.webgpu.bundle.min.mjs", "ort-wasm-simd-threaded.asyncify.wasm.gz"]
      : ["ort.wasm.bundle.min.mjs", "ort-wasm-simd-threaded.wasm.gz"];
    const [ort, wasmBinary, model] = await Promise.all([
      import(/* @vite-ignore */ `${base}/ort/${bundle}`) as Promise<typeof Ort>,
      cachedBytes(`${base}/ort/${wasm}`, "runtime", this.o.onProgress).then(gunzip),
      cachedBytes(this.o.modelUrl, "model", this.o.onProgress, this.o.modelBytes),
    ]);
    ort.env.wasm.wasmBinary = wasmBinary;
    // In a worker: building the session and running the model never block the page.
    ort.env.wasm.proxy = this.o.proxy ?? true;
    // Threads need SharedArrayBuffer, which only a cross-origin-isolated page has.
    const isolated = globalThis.crossOriginIsolated === true;
    ort.env.wasm.numThreads = isolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
    const providers = gpu ? ["webgpu", "wasm"] : ["wasm"];
    const session = await ort.InferenceSession.create(model, { executionProviders: providers, graphOptimizationLevel: "all" });
    const threads = ort.env.wasm.numThreads as number;
    const simd = wasmSimd();
    const label = `wasm (${simd ? "SIMD, " : ""}${threads} thread${threads === 1 ? "" : "s"})`;
    return { ort, session, backend: gpu ? "webgpu" : label, simd, threads, crossOriginIsolated: isolated };
  }

  /** The model's work for a picture and mask: regions and their padded input pixels. */
  plan(width: number, height: number, mask: MaskPayload): { regions: number; pixels: number } {
    const raw: Mask = mask.kind === "shapes" ? rasterizeShapes(mask.shapes, width, height) : mask.mask;
    const o = InpaintOptions.parse({});
    const regions = planWork(prepareMask(raw, o), o);
    return { regions: regions.length, pixels: regions.reduce((s, r) => s + workPixels(r), 0) };
  }

  /**
   * The speed on this machine from tiny timed runs: a 64x64 warm-up, then 128x128 twice. The
   * second 128x128 run gives the steady rate (ms per input pixel); the first one's extra time is
   * what a run at a new input size costs once (every region of a real run is a new size).
   */
  async speed(): Promise<{ msPerPixel: number; overheadMs: number; sampleMs: number; side: number }> {
    await this.time(64, 64);
    const side = 128;
    const first = await this.time(side, side);
    const sampleMs = await this.time(side, side);
    return { msPerPixel: sampleMs / (side * side), overheadMs: Math.max(0, first - sampleMs), sampleMs, side };
  }

  /** Inpaints `image` where `mask` says, with the API's defaults for every option. */
  async inpaint(
    image: Blob,
    mask: MaskPayload,
    onStep?: (s: LocalStep) => void,
  ): Promise<{ blob: Blob; backend: string; regions: number }> {
    const { ort, session, backend } = await this.opened();
    const step = (stage: LocalStep["stage"], done: number, total: number, pixelsDone: number, pixelsTotal: number) =>
      onStep?.({ stage, done, total, pixelsDone, pixelsTotal });
    step("decoding", 0, 0, 0, 0);
    const img = await decodeRgba(image);
    const raw: Mask = mask.kind === "shapes" ? rasterizeShapes(mask.shapes, img.width, img.height) : mask.mask;
    const o = InpaintOptions.parse({});
    const prepared = prepareMask(raw, o);
    // The pipeline's stages one region at a time (as inpaintPipeline chains them), with progress.
    const regions = planWork(prepared, o);
    const total = regions.reduce((s, r) => s + workPixels(r), 0);
    let done = 0;
    for (const [i, r] of regions.entries()) {
      step("inference", i, regions.length, done, total);
      const fill = await fillRegion(img, prepared, r, async (part, pmask) => {
        const t = toModelInput(part, pmask);
        const out = await session.run({
          image: new ort.Tensor("float32", t.image, [1, 3, t.height, t.width]),
          mask: new ort.Tensor("float32", t.mask, [1, 1, t.height, t.width]),
        });
        const result = fromModelOutput(out.output.data as Float32Array, t.width, t.height, part.width, part.height);
        for (let i = 3; i < result.data.length; i += 4) result.data[i] = part.data[i];
        return result;
      });
      await finishFill(img, prepared, fill);
      done += workPixels(r);
    }
    step("encoding", regions.length, regions.length, total, total);
    return { blob: await encodePng(img), backend, regions: regions.length };
  }

  /** Runs the bare model on a w x h input (benchmarks): milliseconds of session.run. */
  async time(w: number, h: number): Promise<number> {
    const { ort, session } = await this.opened();
    const image = new Float32Array(3 * w * h).map((_, i) => ((i * 7919) % 255) / 127.5 - 1);
    const mask = new Float32Array(w * h).map((_, i) => (i % w > w / 4 && i % w < w / 2 ? 1 : 0));
    const t = performance.now();
    await session.run({
      image: new ort.Tensor("float32", image, [1, 3, h, w]),
      mask: new ort.Tensor("float32", mask, [1, 1, h, w]),
    });
    return performance.now() - t;
  }
}
