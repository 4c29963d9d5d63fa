/** Command-line options -> the shared InpaintOptions schema (one validation for every caller). */
import { z } from "zod";
import { Problem } from "../../shared/problems.ts";
import { InpaintOptions } from "../../shared/schemas/options.ts";

/** The option flags every inpaint-like command accepts, in --kebab-case. */
export const OPTION_FLAGS = {
  "hd-strategy": { type: "string" },
  "hd-strategy-crop-trigger-size": { type: "string" },
  "hd-strategy-crop-margin": { type: "string" },
  "hd-strategy-resize-limit": { type: "string" },
  dilate: { type: "string" },
  erode: { type: "string" },
  feather: { type: "string" },
  "invert-mask": { type: "boolean" },
  "mask-resize": { type: "boolean" },
  "mask-source": { type: "string" },
  "output-format": { type: "string" },
  "jpeg-quality": { type: "string" },
} as const;

const NUMERIC = new Set([
  "hd_strategy_crop_trigger_size",
  "hd_strategy_crop_margin",
  "hd_strategy_resize_limit",
  "dilate",
  "erode",
  "feather",
  "jpeg_quality",
]);

export function optionsFromFlags(values: Record<string, unknown>): InpaintOptions {
  const raw: Record<string, unknown> = {};
  for (const flag of Object.keys(OPTION_FLAGS)) {
    const v = values[flag];
    if (v === undefined) continue;
    const key = flag.replaceAll("-", "_");
    raw[key] = NUMERIC.has(key) && typeof v === "string" && v.trim() !== "" ? Number(v) : v;
  }
  const r = InpaintOptions.safeParse(raw);
  if (!r.success) {
    const msg = r.error.issues.map((i) => `--${i.path.join(".").replaceAll("_", "-")}: ${i.message}`).join("; ");
    throw new Problem("invalid-options", msg, { issues: z.treeifyError(r.error) });
  }
  return r.data;
}
