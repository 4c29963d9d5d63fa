import { z } from "zod";

const Loss = z.object({
  hole_psnr_fp32: z.number(),
  hole_psnr: z.number(),
  loss_db: z.number().describe("hole_psnr_fp32 - hole_psnr: positive = the variant is worse"),
  max_level_diff_vs_fp32: z.number().int().nonnegative(),
});

/**
 * A reduced-precision way to run a shipped fp32 model (gpu-jobs/model/quantize.py writes it as
 * `<stem>.<precision>.variant.json` beside the model): an ONNX file made from it (int8, fp16), or
 * the torch runner on its own weights (bf16: `file` is the fp32 file itself). What it was made
 * from, how it was calibrated, what it costs in accuracy, and where the runtime may try it; the
 * server times every candidate within the bound and serves the fastest (runtime/select.ts).
 */
export const ModelVariant = z
  .object({
    precision: z.enum(["int8", "fp16", "bf16"]),
    runtime: z
      .enum(["onnxruntime", "torch"])
      .default("onnxruntime")
      .describe("torch: gpu-jobs/model/serve_torch.py runs the file's weights"),
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
      .describe("against the fp32 model, on val images not used for calibration (it gates a choice: never the test split)"),
    use_when: z
      .object({
        providers: z.array(z.enum(["cpu", "cuda", "tensorrt"])),
        cpu_features_any: z.array(z.string()).describe("empty: any CPU"),
      })
      .describe("where it may win: the runtime times it only there"),
    created: z.string(),
  })
  .strict();

export type ModelVariant = z.infer<typeof ModelVariant>;
