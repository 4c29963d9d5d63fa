/**
 * Command-line options -> the request options (InpaintOptions plus the loaded plugins' options,
 * gpu-jobs/plugins/host.ts): one validation for every caller. Each option is a --kebab-case flag,
 * derived from the schema, so a plugin's option is a flag without a change here.
 */
import { z } from "zod";
import type { RequestOptions as Options } from "../../shared/plugins/contract.ts";
import { Problem } from "../../shared/problems.ts";
import { RequestOptions } from "../plugins/host.ts";

type JsonType = "integer" | "number" | "boolean" | "string";
const PROPS = (z.toJSONSchema(RequestOptions, { io: "input" }) as { properties: Record<string, { type?: JsonType }> }).properties;
/** `model` is the command's own flag (a name or a .onnx file). */
const OPTION_KEYS = Object.keys(PROPS).filter((k) => k !== "model");

/** The option flags every inpaint-like command accepts, in --kebab-case. */
export const OPTION_FLAGS = Object.fromEntries(
  OPTION_KEYS.map((k) => [
    k.replaceAll("_", "-"),
    { type: PROPS[k].type === "boolean" ? ("boolean" as const) : ("string" as const) },
  ]),
);

export function optionsFromFlags(values: Record<string, unknown>): Options {
  const raw: Record<string, unknown> = {};
  for (const key of OPTION_KEYS) {
    const v = values[key.replaceAll("_", "-")];
    if (v === undefined) continue;
    const numeric = PROPS[key].type === "integer" || PROPS[key].type === "number";
    raw[key] = numeric && typeof v === "string" && v.trim() !== "" ? Number(v) : v;
  }
  const r = RequestOptions.safeParse(raw);
  if (!r.success) {
    const msg = r.error.issues.map((i) => `--${i.path.join(".").replaceAll("_", "-")}: ${i.message}`).join("; ");
    throw new Problem("invalid-options", msg, { issues: z.treeifyError(r.error) });
  }
  return r.data as Options;
}
