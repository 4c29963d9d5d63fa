import { z } from "zod";

const Metrics = z.object({
  psnr: z.number(),
  ssim: z.number(),
  hole_psnr: z.number(),
  sharpness: z
    .number()
    .optional()
    .describe("mean hole gradient of the output over the truth's, pooled over images (1 = as detailed as the truth)"),
});

/** Everything a runner, the edge and a reader of the model card need to know about one model file. */
export const ModelManifest = z
  .object({
    name: z.string().regex(/^[a-z0-9-]+$/),
    version: z.string().min(1),
    architecture: z.object({
      family: z.literal("gmcnn"),
      layout: z.literal("tensorflow").describe("the official TF graph: 5-channel input, 208-channel fusion"),
      cnum: z.number().int().positive(),
      params: z.number().int().positive(),
      fill: z
        .enum(["zero", "pushpull", "pushpull-harmonic", "harmonic"])
        .describe(
          "zero: the paper; harmonic: residual over the converged harmonic fill (conjugate gradients); pushpull: over a pyramid fill; pushpull-harmonic: over that fill relaxed by 100 Jacobi steps",
        ),
      upsample: z
        .enum(["tf", "smooth"])
        .default("tf")
        .describe(
          "tf: the official nearest / align-corners bilinear upsamplers; smooth: half-pixel bilinear (no stride grid in stage-2 fills); files from before 0.3 say nothing and are tf",
        ),
    }),
    file: z.string().min(1).describe("ONNX file, relative to the manifest"),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    bytes: z.number().int().positive(),
    weights_dtype: z.enum(["float32", "float16"]),
    io: z.object({
      inputs: z.object({
        image: z.literal("float32 [N,3,H,W] in [-1,1]"),
        mask: z.literal("float32 [N,1,H,W], 1 = hole"),
      }),
      output: z.literal("float32 [N,3,H,W] in [-1,1], composited"),
      channel_order: z.enum(["RGB", "BGR"]),
      opset: z.number().int(),
    }),
    input_size: z.object({
      multiple_of: z.number().int().positive(),
      min: z.number().int().positive(),
      max_recommended: z.number().int().positive().describe("longer side the runner works at by default"),
      trained_at: z.number().int().positive(),
    }),
    training: z.object({
      stage: z.enum(["stage1", "stage2"]),
      data_recipe: z.string(),
      train_images: z.number().int().nonnegative(),
      heldout_images: z.number().int().nonnegative().optional().describe("two-split datasets (before 0.3.0)"),
      val_images: z.number().int().nonnegative().optional().describe("every choice: sweeps, checkpoint selection"),
      test_images: z.number().int().nonnegative().optional().describe("reported once per shipped model"),
      steps: z.number().int().nonnegative(),
      batch: z.number().int().positive(),
      crop: z.number().int().positive(),
      lr: z.number().positive(),
      losses: z.record(z.string(), z.number()),
      hardware: z.string(),
      wall_time_hours: z.number().nonnegative(),
      random_vgg: z.boolean().describe("true when ID-MRF used an untrained VGG19"),
      precision: z.enum(["fp32", "bf16"]).optional().describe("picked by CPU detection: bf16 autocast where AMX"),
      channels_last: z.enum(["on", "off"]).optional(),
      config: z.record(z.string(), z.unknown()).optional().describe("the trainer's config, as the checkpoint recorded it"),
      deviations: z.array(z.string()),
    }),
    metrics: z
      .object({
        heldout_images: z.number().int().positive().optional(),
        split: z.enum(["val", "test"]).optional(),
        test_images: z.number().int().positive().optional(),
        val_images: z.number().int().positive().optional(),
        center: Metrics,
        freeform: Metrics,
        contribution: z
          .object({ prefill: z.string(), center: z.number(), freeform: z.number() })
          .nullable()
          .optional()
          .describe("hole-PSNR of the model minus its own pre-fill alone"),
        val: Metrics.optional().describe("centre holes, the val images the checkpoint was chosen on"),
        bar_0_3_0: z.object({ met: z.boolean(), misses: z.array(z.string()) }).optional(),
      })
      .describe("composited 256x256 crops of the test split (held-out before 0.3.0)"),
    checkpoint: z
      .object({
        file: z.string().describe("where it lies, relative to gpu-jobs/ (the run's committed copy) when it can"),
        sha256: z
          .string()
          .regex(/^[0-9a-f]{64}$/)
          .describe("SHA-256 of the checkpoint file"),
        provenance_sha256: z
          .string()
          .regex(/^[0-9a-f]{64}$/)
          .optional()
          .describe("the trainer's digest over its weights and metadata (fill included)"),
        step: z.number().int().nonnegative(),
      })
      .optional()
      .describe(
        "the generator checkpoint this file was exported from; the ONNX metadata_props repeat it (gmcnn.checkpoint.*) with gmcnn.fill and gmcnn.cnum, and model.provenance re-exports the checkpoint to check the graph",
      ),
    created: z.string(),
  })
  .strict();

export type ModelManifest = z.infer<typeof ModelManifest>;
