import { z } from "zod";

const Loss = z.object({
  hole_psnr_fp32: z.number(),
  hole_psnr: z.number(),
  loss_db: z.number().describe("hole_psnr_fp32 - hole_psnr: positive = the variant is worse"),
  max_level_diff_vs_fp32: z.number().int().nonnegative(),
});

/**
 * A reduced-precision file made from a shipped fp32 model (gpu-jobs/model/quantize.py writes it as
 * `<stem>.<precision>.variant.json` beside the model): what it was made from, how it was
 * calibrated, what it costs in accuracy, and where the runtime may choose it.
 */
export const ModelVariant = z
  .object({
    precision: z.enum(["int8", "fp16"]),
    file: z.string().min(1).describe("ONNX file, relative to this manifest"),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    bytes: z.number().int().positive(),
    base: z
      .object({ file: z.string().min(1), sha256: z.string().regex(/^[0-9a-f]{64}$/) })
      .describe("the fp32 file it was made from: a variant of another file is ignored"),
    scheme: z.string(),
    calibration: z
      .object({
        folder: z.string(),
        images: z.number().int().positive(),
        size: z.string(),
        files_sha256: z.string().regex(/^[0-9a-f]{64}$/),
        masks: z.array(z.string()),
        ranges: z.string(),
      })
      .nullable()
      .describe("int8 only: the val-split images the activation ranges come from"),
    accuracy: z
      .object({
        folder: z.string(),
        images: z.number().int().positive(),
        unmasked_exact: z.boolean(),
        center: Loss,
        freeform: Loss,
      })
      .nullable()
      .describe("against the fp32 model, on the test split"),
    use_when: z
      .object({
        providers: z.array(z.enum(["cpu", "cuda", "tensorrt"])),
        cpu_features_any: z.array(z.string()).describe("empty: any CPU"),
      })
      .describe("where it wins: the runtime picks it only there"),
    created: z.string(),
  })
  .strict();

export type ModelVariant = z.infer<typeof ModelVariant>;
