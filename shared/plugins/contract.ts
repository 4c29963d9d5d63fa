/**
 * The plugin contract, one for every host (the Worker, the GPU function server, the CLI). A
 * plugin has a name, a version, a kind, a zod schema for its host configuration, the public
 * per-request options it adds, and a `setup` that returns the typed hooks of its kind. Plugins
 * are bundled, not loaded at run time (Workers cannot load code dynamically): a deployment lists
 * them in gmcnn.config.ts, which every host imports. docs/plugins.md tells the whole story.
 */
import type { z } from "zod";
import type { GpuBackend } from "../gpu-backend.ts";
import type { Fill } from "../imaging/pipeline.ts";
import type { WorkRegion } from "../imaging/plan.ts";
import type { ImageHeader } from "../imaging/sniff.ts";
import type { Mask, RgbaImage } from "../imaging/types.ts";
import type { CreateJobJson } from "../schemas/jobs.ts";
import type { InpaintOptions } from "../schemas/options.ts";

/** The extension points: the pipeline stages plugins plug into (plus incoming webhooks). */
export const PLUGIN_KINDS = ["mask-source", "inference", "post-processor", "encoder", "webhook-source"] as const;
export type PluginKind = (typeof PLUGIN_KINDS)[number];

/** Settings as a host has them: wrangler vars and secrets, or process.env and flags. */
export type Settings = Readonly<Record<string, string | undefined>>;

/** A request's options: the core InpaintOptions plus those the loaded plugins add. */
export type RequestOptions = InpaintOptions & Readonly<Record<string, unknown>>;

/** The host's image codecs (WASM, bundled per host), under the host's upload limits. */
export interface HostCodecs {
  /** Format and size from the header only; throws 413/415/422 problems. */
  inspect(bytes: Uint8Array, what: "image" | "mask", accept: readonly string[]): ImageHeader;
  decode(bytes: Uint8Array, header: ImageHeader, what: "image" | "mask"): Promise<RgbaImage>;
  /** Encodes with one of the host's codecs (`formats`). */
  encode(img: RgbaImage, format: string, o: { quality: number }): Promise<Uint8Array>;
  readonly formats: readonly string[];
}

/** A model opened in-process. */
export interface OnnxModel {
  readonly name: string;
  readonly version: string;
  /** The ONNX Runtime execution provider (cpu, cuda). */
  readonly provider: string;
  /** One working region through the model; alpha and kept pixels as the GPU function returns them. */
  run(image: RgbaImage, mask: Mask): Promise<RgbaImage>;
  release(): Promise<void>;
}

/** In-process ONNX Runtime: Node hosts only (gpu-jobs/plugins/host.ts). */
export interface OnnxHost {
  /** Opens a shipped model (name or name@version; default the newest) or a .onnx file. */
  open(o: { model?: string; threads?: number; runtime?: "node" | "web" }): Promise<OnnxModel>;
}

/** What a host gives every plugin's setup. */
export interface Host {
  readonly name: "edge" | "node";
  readonly fetch: typeof fetch;
  readonly codecs: HostCodecs;
  /** Another inference backend by name, with `settings` over the host's (for chains). */
  backend(name: string, settings?: Settings): Promise<GpuBackend>;
  readonly onnx?: OnnxHost;
}

// ---- mask sources (stage `mask`) ----

/** A request's mask as given: the bytes of a file or URL, or an inline JSON document (mask_shapes). */
export interface MaskInput {
  readonly bytes?: Uint8Array;
  readonly json?: unknown;
}

export interface MaskContext {
  /** The image's stored pixel grid (before EXIF orientation), from its header. */
  image: { width: number; height: number };
  options: RequestOptions;
  codecs: HostCodecs;
  /** The host's upload limits: a mask that is not a decoded image (RLE, shapes) obeys them too. */
  limits: { maxSide: number; maxMegapixels: number };
}

/** A mask after its source, invert and mask_resize, before erode/dilate. */
export interface LoadedMask {
  /** What the cache key hashes: the same identity must always give the same raster. */
  identity: string | Uint8Array;
  /** Known empty (erode/dilate cannot create holes from nothing). */
  empty: boolean;
  /** The raster at the image's size (1 = hole); called on a cache miss only. */
  build(size: { width: number; height: number }): Mask;
}

/**
 * What reading one mask input will cost, counted from the document alone (its header, its
 * objects, runs, points), before any of it is decoded or drawn.
 */
export interface MaskWork {
  /**
   * Units of about one pixel write: everything `load` and `build` will touch that grows with the
   * document (pixels decoded or written, objects x area, runs and rows at their weight). The
   * passes every mask costs anyway (invert, resize, hole count) are not counted.
   */
  work: number;
  /** What was counted (objects, runs, pixels, ...): the refusal's problem carries them. */
  counts: Readonly<Record<string, number>>;
}

/** Image passes of work a mask may cost: the bound is this many passes over the largest image the host accepts. */
export const MASK_WORK_PASSES = 4;

/**
 * The most work one mask may cost on this host, whatever its source: MASK_WORK_PASSES passes over
 * the largest image the upload limits accept (8 MP by default: 32 M units, tens of milliseconds).
 */
export const maxMaskWork = (limits: MaskContext["limits"]): number => Math.round(MASK_WORK_PASSES * limits.maxMegapixels * 1e6);

export interface MaskSourceHooks {
  /** What it reads, for errors and docs (e.g. "PNG (image/png)"). */
  readonly accepts: string;
  /** Whether this input is for this source (magic bytes, a JSON member); the first source that says yes reads it. */
  detect(input: MaskInput): boolean;
  /**
   * The work `load` and `build` will do for this input, estimated in O(document) without
   * decoding or drawing (a header, a count over objects and runs); an input it cannot read may
   * throw its 4xx problem here. Required: the host calls it before `check` and `load` and refuses
   * an input over `maxMaskWork` with 422 mask-too-complex (shared/plugins/registry.ts,
   * `boundedMaskSource`), so no source can skip the bound, and the contract suite
   * (test/shared/plugins/mask-sources.test.ts) runs every source's worst case.
   */
  work(input: MaskInput, ctx: MaskContext): MaskWork;
  /** Cheap checks against the image (no decode): job creation runs them, so a bad mask is a 4xx at once. */
  check(input: MaskInput, ctx: MaskContext): void | Promise<void>;
  load(input: MaskInput, ctx: MaskContext): Promise<LoadedMask>;
}

// ---- inference backends (stage `infer`) ----

/** An inference backend is the GPU backend contract of shared/gpu-backend.ts. */
export type InferenceHooks = GpuBackend;

// ---- post-processors (stage `post-process`) ----

/**
 * What a post-processor will spend on one fill, counted from its region and the mask (no pixels)
 * before it runs.
 */
export interface PostWork {
  /** Units of about one pixel operation (a pixel of a patch compared, a pixel of a pass). */
  work: number;
  /** What was counted (hole pixels, comparisons, ...): the refusal's problem carries them. */
  counts: Readonly<Record<string, number>>;
  /** What the caller can do instead, for the refusal's detail (e.g. "texture=auto skips ..."). */
  instead?: string;
}

/**
 * The most work one post-processor may spend on one request's fills: a few seconds of one core
 * (a unit is about 5 ns on the 2-core EPYC). Texture synthesis of a 540x540 hole is about this.
 */
export const MAX_POST_WORK = 1_000_000_000;

export interface PostProcessorHooks {
  /** Opt-in per request: whether these options ask for it. */
  enabled(options: RequestOptions): boolean;
  /**
   * The work `process` will do on this region's fill, at most, from the region and the mask
   * alone. Required of a post-processor whose work grows faster than its box (texture
   * synthesis); every host's PluginSet wraps post-processors (shared/plugins/post-work.ts) so that
   * a fill over MAX_POST_WORK is refused (422 mask-too-large) before `process` runs, and the edge
   * sums it over a request's regions before the model runs (stage `plan`).
   */
  work?(region: WorkRegion, mask: Mask, options: RequestOptions): PostWork;
  /**
   * Changes `fill` (the model's output for one region, box-sized) in place before it is
   * composited. `image` is the whole picture, still original in and around the fill's box;
   * `mask` is the whole prepared mask. Only hole pixels of the fill reach the output.
   */
  process(fill: Fill, image: RgbaImage, mask: Mask, options: RequestOptions): void | Promise<void>;
}

// ---- encoders (stage `encode`) ----

export interface EncoderHooks {
  encode(img: RgbaImage, options: RequestOptions): Promise<Uint8Array>;
}

// ---- incoming webhook sources (POST /v1/hooks/{integration}) ----

export interface WebhookRequest {
  headers: Headers;
  /** The raw body, as signed. */
  body: string;
}

/**
 * A job as POST /v1/jobs takes it as JSON (image_url, mask_url or mask_shapes, options, webhook);
 * the edge validates it with CreateJobJson and the loaded plugins' options, as for POST /v1/jobs.
 */
export type JobJson = Readonly<Record<string, unknown>> & Partial<Record<keyof z.input<typeof CreateJobJson>, unknown>>;

export interface WebhookSourceHooks {
  /**
   * Verifies the signature with the integration's secret (constant time) and returns the
   * delivery's id, which the edge accepts once, and `signed`: exactly what the signature covers
   * (less the secret). The edge accepts a digest of `signed` once per integration within
   * HOOK_REPLAY_RETENTION_S too, so that a replay under a new id that the signature does not cover
   * (X-GitHub-Delivery) creates nothing. Throws 401 invalid-signature.
   */
  verify(req: WebhookRequest, secret: string, o: { nowS: number; toleranceS: number }): Promise<{ id: string; signed: string }>;
  /** The payload mapped to a job, or `{ ignore }` for an event that asks for nothing (a ping). */
  toJob(payload: unknown, req: WebhookRequest): { job: JobJson } | { ignore: string };
  /** A new signing secret when we issue it; absent: the sender's own secret must be registered. */
  newSecret?(): string;
  /** The headers a sender would send for `body` (tests, docs, `examples/`): the contract suite signs with it. */
  sign(secret: string, body: string, o: { nowS: number; id?: string }): Promise<Record<string, string>>;
  /** A payload this source maps to a job (docs and the contract suite). */
  readonly example: unknown;
}

export interface HooksByKind {
  "mask-source": MaskSourceHooks;
  inference: InferenceHooks;
  "post-processor": PostProcessorHooks;
  encoder: EncoderHooks;
  "webhook-source": WebhookSourceHooks;
}

/** A zod object over settings names (e.g. GPU_URL), validated when a host starts. */
export type ConfigSchema = z.ZodObject<z.ZodRawShape>;

export interface Plugin<K extends PluginKind = PluginKind, C extends ConfigSchema = ConfigSchema> {
  /** Lowercase letters, digits and dashes; unique per kind. */
  readonly name: string;
  readonly version: string;
  readonly kind: K;
  readonly description: string;
  /** Host configuration (settings names as keys); absent: none. */
  readonly config?: C;
  /** Public per-request options this plugin adds to the inpaint routes (form fields, JSON members). */
  readonly options?: z.ZodRawShape;
  /** Encoders: the `output_format` value and the response's media type. */
  readonly format?: string;
  readonly mime?: string;
  setup(config: z.output<C>, host: Host): HooksByKind[K] | Promise<HooksByKind[K]>;
}

/** Any plugin, whatever its kind (what a config lists). */
export type AnyPlugin = { [K in PluginKind]: Plugin<K, ConfigSchema> }[PluginKind];

/** Type-checks a plugin definition (no runtime effect). */
export function definePlugin<K extends PluginKind, C extends ConfigSchema>(p: Plugin<K, C>): Plugin<K, C> {
  return p;
}
