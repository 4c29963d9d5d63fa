/**
 * What a caller may pass as an image or a mask, and how each travels: bytes as a multipart file,
 * a URL as `image_url`/`mask_url` (jobs; the sync route fetches it here first), an upload as
 * `image_id`, a mask as a PNG or as shapes (`mask_shapes`, small: a stroke is a few points).
 */
import type { InpaintOptionsInput } from "../shared/schemas/options.ts";
import type { MaskShapes, MaskShapesInput } from "../shared/schemas/shapes.ts";

/** Bytes of a PNG, JPEG or WebP, a URL to fetch it from, or an id from uploads.create. */
export type ImageInput = Blob | ArrayBuffer | ArrayBufferView | URL | string | { uploadId: string };
/** A PNG (bytes or URL; white = hole) or shapes in image pixels: `[...]` or `{ shapes: [...] }`. */
export type MaskInput = Blob | ArrayBuffer | ArrayBufferView | URL | string | MaskShapesInput;

export interface InpaintRequest extends InpaintOptionsInput {
  image: ImageInput;
  mask: MaskInput;
  /**
   * Options that the deployment's plugins add (feathering, grain, ...): GET /v1/plugins lists
   * them, by name, with their JSON Schema. Sent beside the built-in options.
   */
  plugin_options?: Record<string, string | number | boolean>;
}

const isShapes = (m: MaskInput): m is MaskShapesInput =>
  Array.isArray(m) || (typeof m === "object" && m !== null && "shapes" in m && Array.isArray((m as MaskShapes).shapes));

export const shapesDoc = (m: MaskShapesInput): MaskShapes => (Array.isArray(m) ? { shapes: m } : m);

const isUrl = (v: unknown): v is URL | string => v instanceof URL || typeof v === "string";

export function toBlob(v: Blob | ArrayBuffer | ArrayBufferView, type = ""): Blob {
  if (v instanceof Blob) return v;
  const bytes = v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  return new Blob([bytes as Uint8Array<ArrayBuffer>], { type });
}

/** Fetches a URL input (the synchronous route takes bytes only). */
async function fetchBytes(url: URL | string, doFetch: typeof fetch, what: string): Promise<Blob> {
  const res = await doFetch(String(url));
  if (!res.ok) throw new TypeError(`could not fetch the ${what} from ${url}: HTTP ${res.status}`);
  return res.blob();
}

/** Options as multipart fields (strings; booleans and numbers as the form parser expects them). */
export function appendOptions(form: FormData, o: InpaintOptionsInput): void {
  for (const [k, v] of Object.entries(o)) if (v !== undefined) form.append(k, String(v));
}

/** The multipart form of /v1/inpaint and /v1/jobs. URLs are fetched here unless `urlsAsFields`. */
export async function inpaintForm(
  { image, mask, plugin_options, ...options }: InpaintRequest,
  doFetch: typeof fetch,
  extra: Record<string, string | undefined> = {},
): Promise<FormData> {
  const form = new FormData();
  if (typeof image === "object" && image !== null && "uploadId" in image) form.append("image_id", image.uploadId);
  else form.append("image", isUrl(image) ? await fetchBytes(image, doFetch, "image") : toBlob(image), "image");
  if (isShapes(mask)) form.append("mask_shapes", JSON.stringify(shapesDoc(mask)));
  else form.append("mask", isUrl(mask) ? await fetchBytes(mask, doFetch, "mask") : toBlob(mask, "image/png"), "mask.png");
  appendOptions(form, { ...plugin_options, ...options });
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) form.append(k, v);
  return form;
}

/** Jobs whose inputs are all URLs, upload ids or shapes go as JSON: the edge fetches the URLs. */
export function jobJson(r: InpaintRequest, extra: Record<string, unknown>): Record<string, unknown> | undefined {
  const { image, mask, plugin_options, ...options } = r;
  const body: Record<string, unknown> = { ...plugin_options, ...options, ...extra };
  if (typeof image === "object" && image !== null && "uploadId" in image) body.image_id = image.uploadId;
  else if (isUrl(image)) body.image_url = String(image);
  else return undefined;
  if (isShapes(mask)) body.mask_shapes = shapesDoc(mask);
  else if (isUrl(mask)) body.mask_url = String(mask);
  else return undefined;
  for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
  return body;
}
