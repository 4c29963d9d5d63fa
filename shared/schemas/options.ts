import { z } from "zod";

/** How a large image is brought to the model (IOPaint's names and defaults). */
export const HdStrategy = z.enum(["original", "resize", "crop"]);
export const MaskSource = z.enum(["luminance", "alpha"]);
export const OutputFormat = z.enum(["png", "jpeg", "webp"]);

const pixels = (max: number) => z.number().int().min(0).max(max);

/**
 * Inpaint options: one schema for the CLI, the HTTP API and the job queue. Plugins add their own
 * (feather, seam_blend, grain, ...): hosts compose them on with shared/plugins/registry.ts.
 */
export const InpaintOptions = z
  .object({
    hd_strategy: HdStrategy.default("crop").describe(
      "original: whole image; resize: shrink to resize_limit; crop: one box per hole",
    ),
    hd_strategy_crop_trigger_size: pixels(16384).default(800).describe("crop only when the longer side exceeds this"),
    hd_strategy_crop_margin: pixels(1024).default(128).describe("context kept around each hole, in pixels"),
    hd_strategy_resize_limit: z.number().int().min(64).max(16384).default(1280).describe("longer side after resize"),
    dilate: pixels(128).default(0).describe("grow the hole by this many pixels"),
    erode: pixels(128).default(0).describe("shrink the hole by this many pixels"),
    invert_mask: z.boolean().default(false).describe("treat black as the hole"),
    mask_resize: z
      .boolean()
      .default(false)
      .describe("resize a mask of another size to the image's (any hole coverage stays a hole) instead of refusing it"),
    mask_source: MaskSource.default("luminance").describe("luminance: white (> 127) = hole; alpha: transparent (< 128) = hole"),
    output_format: OutputFormat.optional().describe("default: the input's format"),
    jpeg_quality: z.number().int().min(1).max(100).default(90),
    model: z.string().min(1).max(64).optional().describe("model name or name@version; default: the served model"),
  })
  .strict();

export type InpaintOptions = z.output<typeof InpaintOptions>;
export type InpaintOptionsInput = z.input<typeof InpaintOptions>;
export type HdStrategy = z.infer<typeof HdStrategy>;
export type MaskSource = z.infer<typeof MaskSource>;
export type OutputFormat = z.infer<typeof OutputFormat>;
