import { z } from "zod";

const Metrics = z.object({ psnr: z.number(), ssim: z.number(), hole_psnr: z.number() });

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
        .enum(["zero", "pushpull", "pushpull-harmonic"])
        .describe(
          "zero: the paper; pushpull: residual over a pyramid fill; pushpull-harmonic: over that fill relaxed by harmonic steps",
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
      heldout_images: z.number().int().nonnegative(),
      steps: z.number().int().nonnegative(),
      batch: z.number().int().positive(),
      crop: z.number().int().positive(),
      lr: z.number().positive(),
      losses: z.record(z.string(), z.number()),
      hardware: z.string(),
      wall_time_hours: z.number().nonnegative(),
      random_vgg: z.boolean().describe("true when ID-MRF used an untrained VGG19"),
      deviations: z.array(z.string()),
    }),
    metrics: z
      .object({
        heldout_images: z.number().int().positive(),
        center: Metrics,
        freeform: Metrics,
      })
      .describe("composited 256x256 held-out crops"),
    created: z.string(),
  })
  .strict();

export type ModelManifest = z.infer<typeof ModelManifest>;
