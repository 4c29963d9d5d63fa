/**
 * `multipart/form-data` of POST /v1/inpaint -> the image (file or upload id), the mask (PNG or
 * shapes) and validated InpaintOptions. Form
 * values are strings: each is coerced by the type the shared schema gives its field (integer,
 * boolean, string), so a new option needs no change here.
 */
import { z } from "zod";
import { Problem, invalidOptions as sharedInvalidOptions, type ZodLikeError } from "../shared/problems.ts";
import type { InpaintOptions } from "../shared/schemas/options.ts";
import { MaskShapes } from "../shared/schemas/shapes.ts";
import { UploadId } from "../shared/schemas/uploads.ts";
import { RequestOptions } from "./plugins/index.ts";

export const FILE_FIELDS = ["image", "mask"] as const;
/** Fields that are inputs, not options (strings, or a file for mask_shapes). */
export const INPUT_FIELDS = ["image_id", "mask_shapes"] as const;

/** Exactly one of `image` / `imageId`, and exactly one of `mask` / `shapes`. */
export interface InpaintForm {
  image?: Uint8Array;
  imageId?: string;
  mask?: Uint8Array;
  shapes?: MaskShapes;
  options: InpaintOptions;
  /** Text fields the caller named in `extra` (not options): e.g. a job's webhook. */
  extras: Record<string, string>;
}

/** workers-types lists form values as strings; with files in the form they are File too. */
type FormValue = string | File;

type JsonType = "integer" | "number" | "boolean" | "string";
const FIELD_TYPES: Record<string, JsonType> = Object.fromEntries(
  Object.entries(
    (z.toJSONSchema(RequestOptions, { io: "input" }) as { properties: Record<string, { type?: JsonType }> }).properties,
  ).map(([k, v]) => [k, v.type ?? "string"]),
);

function coerce(type: JsonType | undefined, raw: string): unknown {
  const v = raw.trim();
  if ((type === "integer" || type === "number") && v !== "" && Number.isFinite(Number(v))) return Number(v);
  if (type === "boolean") {
    if (/^(true|1|on|yes)$/i.test(v)) return true;
    if (/^(false|0|off|no)$/i.test(v)) return false;
  }
  return raw; // left as is: zod names the field and the expected type
}

/** shared/problems.ts's invalidOptions (400 invalid-options, 422 value-too-long or invalid-origin). */
export const invalidOptions = (e: z.ZodError, prefix: readonly PropertyKey[] = []): Problem =>
  sharedInvalidOptions(e as unknown as ZodLikeError, prefix);

/**
 * Options from the non-file fields; 400 invalid-options lists every zod issue. Field names are
 * the caller's: they go into a null-prototype object, where `__proto__`, `constructor` and
 * `prototype` are keys like any other (and so unknown options), never the object's prototype.
 */
export function optionsFromFields(fields: ReadonlyMap<string, string>): InpaintOptions {
  const raw: Record<string, unknown> = Object.create(null);
  for (const [k, v] of fields) raw[k] = coerce(Object.hasOwn(FIELD_TYPES, k) ? FIELD_TYPES[k] : undefined, v);
  // InpaintOptions plus the loaded plugins' options (workers/plugins/).
  const r = RequestOptions.safeParse(raw);
  if (!r.success) throw invalidOptions(r.error);
  return r.data as InpaintOptions;
}

/** The one value of `name`, or undefined; 400 when it is repeated. */
function single(form: FormData, name: string): FormValue | undefined {
  const all = form.getAll(name) as unknown as FormValue[];
  if (all.length > 1) throw new Problem("bad-request", `form field "${name}" is given ${all.length} times`, { field: name });
  return all[0];
}

async function fileBytes(form: FormData, name: (typeof FILE_FIELDS)[number]): Promise<Uint8Array | undefined> {
  const v = single(form, name);
  if (v === undefined) return undefined;
  if (typeof v === "string") throw new Problem("bad-request", `form field "${name}" must be a file upload`, { field: name });
  return new Uint8Array(await v.arrayBuffer());
}

/** `mask_shapes` as text or as a JSON file; 400 invalid-options with zod's issues when malformed. */
async function readShapes(v: FormValue): Promise<MaskShapes> {
  const text = typeof v === "string" ? v : await v.text();
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Problem("invalid-options", `mask_shapes is not JSON (${(e as Error).message})`, {
      issues: [{ field: "mask_shapes", code: "invalid_json", message: (e as Error).message }],
    });
  }
  const r = MaskShapes.safeParse(raw);
  if (!r.success) throw invalidOptions(r.error, ["mask_shapes"]);
  return r.data;
}

function oneOf(a: string, b: string, hasA: boolean, hasB: boolean): void {
  if (hasA && hasB) throw new Problem("bad-request", `send either "${a}" or "${b}", not both`, { fields: [a, b] });
  if (!hasA && !hasB) throw new Problem("bad-request", `missing form field "${a}" (or "${b}")`, { field: a });
}

/**
 * An empty field is an absent one: a text field that is empty (or blank) and a file part with no
 * name and no bytes, as HTML forms and Swagger UI's "Try it out" send for what was left blank
 * (`image_id=`, `model=`). A named file of zero bytes stays: it is an upload, and a bad one.
 */
function withoutEmptyFields(sent: FormData): FormData {
  const form = new FormData();
  for (const [k, v] of sent.entries() as unknown as Iterable<[string, FormValue]>) {
    if (typeof v === "string" ? v.trim() === "" : v.size === 0 && v.name === "") continue;
    form.append(k, v);
  }
  return form;
}

/** Reads the request's form. 415 when it is not multipart, 400 when it is malformed. */
export async function readInpaintForm(req: Request, extra: readonly string[] = []): Promise<InpaintForm> {
  const type = (req.headers.get("content-type") ?? "").toLowerCase();
  if (!type.startsWith("multipart/form-data"))
    throw new Problem(
      "unsupported-media-type",
      "send multipart/form-data with `image` (or `image_id`) and `mask` (or `mask_shapes`)",
      {
        accepted: ["multipart/form-data"],
      },
    );
  let sent: FormData;
  try {
    sent = await req.formData();
  } catch (e) {
    throw new Problem("bad-request", `the multipart body could not be parsed (${(e as Error)?.message ?? e})`);
  }
  const form = withoutEmptyFields(sent);
  // Maps, not objects: a field named __proto__ must stay a field (and an unknown option).
  const fields = new Map<string, string>();
  const extras = new Map<string, string>();
  for (const [k, v] of form.entries() as unknown as Iterable<[string, FormValue]>) {
    if ((FILE_FIELDS as readonly string[]).includes(k) || (INPUT_FIELDS as readonly string[]).includes(k)) continue;
    if (fields.has(k) || extras.has(k))
      throw new Problem("bad-request", `form field "${k}" is given more than once`, { field: k });
    if (typeof v !== "string")
      throw new Problem("invalid-options", `unexpected file field "${k}" (only image and mask are files)`, {
        issues: [{ field: k, code: "unrecognized_keys", message: "unexpected file field" }],
      });
    (extra.includes(k) ? extras : fields).set(k, v);
  }
  const options = optionsFromFields(fields); // before the files are read: cheap errors first
  const idValue = single(form, "image_id");
  const shapesValue = single(form, "mask_shapes");
  oneOf("image", "image_id", form.has("image"), idValue !== undefined);
  oneOf("mask", "mask_shapes", form.has("mask"), shapesValue !== undefined);
  let imageId: string | undefined;
  if (idValue !== undefined) {
    const r = UploadId.safeParse(typeof idValue === "string" ? idValue.trim() : "");
    if (!r.success) throw new Problem("bad-request", `image_id: ${r.error.issues[0].message}`, { field: "image_id" });
    imageId = r.data;
  }
  return {
    image: await fileBytes(form, "image"),
    imageId,
    mask: await fileBytes(form, "mask"),
    shapes: shapesValue === undefined ? undefined : await readShapes(shapesValue),
    options,
    extras: Object.fromEntries(extras), // only the names in `extra`: no prototype keys
  };
}
