/**
 * The state one inpaint call carries from stage to stage (workers/inpaint-run.ts lists the
 * stages). Each stage reads what earlier stages left here and either adds to it or ends the call
 * with a response (a replay, a 304, a cache hit, a pass-through, the result).
 */
import type { GpuBackend } from "../../shared/gpu-backend.ts";
import type { Fill } from "../../shared/imaging/pipeline.ts";
import type { WorkRegion } from "../../shared/imaging/plan.ts";
import type { Mask, RgbaImage } from "../../shared/imaging/types.ts";
import type { RequestOptions } from "../../shared/plugins/contract.ts";
import type { PluginSet } from "../../shared/plugins/registry.ts";
import type { Meter } from "../billing/meter.ts";
import type { CacheStatus, KeyParts } from "../cache.ts";
import type { EdgeFormat, ImageHeader } from "../codecs.ts";
import { MIME } from "../codecs.ts";
import type { Bindings } from "../env.ts";
import type { InpaintForm } from "../form.ts";
import type { Timings } from "../timing.ts";

/** What runInpaint needs of the request besides the form (a job run has no HTTP request). */
export interface RunContext {
  requestId: string;
  /** Whose uploads and cache: the account, or the dev key (workers/auth.ts ownerOf). */
  owner: string;
  /** Metered callers of the synchronous route: Idempotency-Key and the credit hold. */
  meter?: Pick<Meter, "claim" | "reserve">;
  cacheControl?: string;
  ifNoneMatch?: string;
}

/** The input image, read lazily: by upload id its bytes are fetched on a cache miss only. */
export interface ImageInput {
  /** SHA-256 of the bytes (= the upload id). */
  sha256: string;
  header(): Promise<ImageHeader & { format: EdgeFormat }>;
  bytes(): Promise<Uint8Array>;
  /** Lets go of the bytes once decoded. */
  release(): void;
}

/** The binary mask after its source, invert and mask_resize (before erode/dilate), and its hash. */
export interface NormalisedMask {
  /** SHA-256 of the normalised mask: of its pixels for a raster, of the canonical document for shapes. */
  sha256: string;
  /** Known empty before erode/dilate (which cannot create holes from nothing). */
  empty: boolean;
  build(image: ImageHeader): Mask;
}

export interface Run {
  readonly env: Bindings;
  readonly ctx: RunContext;
  readonly form: InpaintForm;
  readonly options: RequestOptions;
  readonly t: Timings;
  /** The loaded plugins (gmcnn.config.ts): mask sources, backend, post-processors, encoders. */
  readonly plugins: PluginSet;
  /** read */
  image: ImageInput;
  /** mask */
  mask: NormalisedMask;
  /** cache: the backend, the key (re-keyed in store when the served model differs). */
  backend: GpuBackend;
  keyModel: string;
  keyParts: KeyParts;
  key: string;
  bypass: boolean;
  /** decode */
  /** The output format (an encoder plugin's), and its media type once encoded. */
  format: string;
  mime: string;
  pixels?: RgbaImage;
  raster?: Mask;
  /** plan */
  regions: WorkRegion[];
  /** infer: one fill per region, and what the backend reported */
  fills: Fill[];
  model: string;
  provider: string;
  /** The backend that served the calls (a fallback chain names its member). */
  servedBy: string;
  /** encode */
  bytes?: Uint8Array;
  /** store: the result is in the cache (coalesced followers may read it). */
  stored: boolean;
  /** Run when the call ends, however it ends (last registered, first run). */
  cleanups: (() => Promise<void>)[];
}

/** A stage: adds to the run, or ends the call with the response. */
export type Stage = (run: Run) => Promise<Response | undefined>;

/** A response from bytes (or none), a status and headers. */
export const reply = (body: ArrayBuffer | Uint8Array | ReadableStream | null, status: number, headers: Record<string, string>) =>
  new Response(body as BodyInit | null, { status, headers });

/** Nothing to fill: the upload itself, byte for byte (EXIF included), no GPU call, nothing cached. */
export async function passThrough(run: Run): Promise<Response> {
  return reply(await run.image.bytes(), 200, {
    "Content-Type": MIME[(await run.image.header()).format],
    "X-Cache": "BYPASS" satisfies CacheStatus,
    "X-Inpaint-Regions": "0",
    "Server-Timing": run.t.header(),
  });
}
