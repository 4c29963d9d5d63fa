/** The DOM events `<gmcnn-inpaint>` emits (all bubble and cross the shadow boundary). */
import type { GmcnnError } from "../../sdk/errors.ts";

export interface GmcnnEventDetail {
  /** An image is loaded (natural size). */
  "gmcnn:load": { width: number; height: number; source: "file" | "url" | "result" };
  /** The mask changed (paint, erase, box, undo, redo, clear). */
  "gmcnn:change": { edits: number; canUndo: boolean; canRedo: boolean };
  /** A request starts: the mask goes as shapes (strokes, boxes) or as a PNG (after erasing). */
  "gmcnn:submit": { mask: "shapes" | "png"; where: "api" | "browser" };
  /** Work in progress; `loaded`/`total` in bytes for downloads. */
  "gmcnn:progress": { phase: "sending" | "inpainting" | "model-download" | "runtime-download"; loaded?: number; total?: number };
  /** The in-page model: downloading, ready (with its backend), or failed. */
  "gmcnn:model": { state: "downloading" | "ready" | "failed"; loaded: number; total: number; backend?: string; cached?: boolean };
  /** The inpainted image. `fallback`: the API was unreachable and the page ran the model. */
  "gmcnn:result": { blob: Blob; where: "api" | "browser"; fallback: boolean; durationMs: number; requestId: string | null };
  /** A failed request: `error` is a GmcnnError carrying the API's problem document when there was one. */
  "gmcnn:error": { error: GmcnnError | Error };
}

export type GmcnnEventMap = { [K in keyof GmcnnEventDetail]: CustomEvent<GmcnnEventDetail[K]> };
