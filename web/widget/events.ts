/** The DOM events `<gmcnn-inpaint>` emits (all bubble and cross the shadow boundary). */
import type { GmcnnError } from "../../sdk/errors.ts";
import type { Backend } from "./local.ts";

/**
 * The stages of a removal. Server: `sending`, then `queued`, `running`, `receiving` when the
 * token may create jobs (polled), else one `running` request. In the page: `model-download` and
 * `runtime-download` (first time only), `estimating` (a tiny timed run), `inpainting` (once per
 * region), `encoding`.
 */
export type ProgressPhase =
  | "sending"
  | "queued"
  | "running"
  | "receiving"
  | "model-download"
  | "runtime-download"
  | "estimating"
  | "inpainting"
  | "encoding";

export interface GmcnnEventDetail {
  /** An image is loaded (natural size). */
  "gmcnn:load": { width: number; height: number; source: "file" | "url" | "result" };
  /** An opened picture is over the API's limits: it was not loaded; downscaling to `fit` is offered. */
  "gmcnn:limit": {
    width: number;
    height: number;
    bytes: number;
    over: ("bytes" | "pixels")[];
    fit: { width: number; height: number };
  };
  /** The mask changed (paint, erase, box, undo, redo, clear). */
  "gmcnn:change": { edits: number; canUndo: boolean; canRedo: boolean };
  /** A request starts: the mask goes as shapes (strokes, boxes) or as a PNG (after erasing). */
  "gmcnn:submit": { mask: "shapes" | "png"; where: "api" | "browser" };
  /**
   * Work in progress, once per stage (and per region in the page). `loaded`/`total`: bytes for
   * downloads; `done`/`total`: regions for `inpainting`. `etaMs`: time left from measured speed
   * (the server's past runs in this browser; in the page, the tiny timed run, then the run itself).
   */
  "gmcnn:progress": { phase: ProgressPhase; loaded?: number; total?: number; done?: number; etaMs?: number };
  /** Before an in-page run: the estimate from a tiny timed run, and how the runtime runs. */
  "gmcnn:estimate": {
    where: "browser";
    estimateMs: number;
    pixels: number;
    regions: number;
    sampleMs: number;
    sampleSide: number;
  } & Backend;
  /** The in-page model: downloading, ready (with its backend), or failed. */
  "gmcnn:model": { state: "downloading" | "ready" | "failed"; loaded: number; total: number; backend?: string; cached?: boolean };
  /** The inpainted image. `fallback`: the API was unreachable and the page ran the model. */
  "gmcnn:result": {
    blob: Blob;
    where: "api" | "browser";
    fallback: boolean;
    durationMs: number;
    requestId: string | null;
    jobId?: string;
  };
  /** A removal was canceled (Cancel or Escape): the request aborted, its job canceled, or the page's worker terminated. */
  "gmcnn:cancel": { where: "api" | "browser"; phase?: ProgressPhase; jobId?: string };
  /** A failed request: `error` is a GmcnnError carrying the API's problem document when there was one. */
  "gmcnn:error": { error: GmcnnError | Error };
}

export type GmcnnEventMap = { [K in keyof GmcnnEventDetail]: CustomEvent<GmcnnEventDetail[K]> };
