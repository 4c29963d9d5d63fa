import { z } from "zod";

/**
 * A training job on Modal: the spec `npx gmcnn train --remote` sends to the deployed function
 * `gmcnn-train/train` (gpu-jobs/modal/train_app.py, which checks it again in train_settings.py),
 * and the status `--status ID` reports.
 */

const RunName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/)
  .describe("run folder on the Volume (runs/<run>); spawning the same name again resumes it");

/** Config keys the job sets itself (paths on the container and the Volume, the stage, the VGG). */
export const JOB_OWNED_CONFIG_KEYS = [
  "data",
  "val",
  "out",
  "init",
  "vgg_weights",
  "vgg_sha256",
  "random_vgg",
  "stage",
  "threads",
] as const;

/** GPU types Modal accepts for `gpu=` (the function's default is L40S). */
export const TrainingGpu = z.enum(["T4", "L4", "A10G", "L40S", "A100", "A100-40GB", "A100-80GB", "H100", "H200", "B200"]);

export const TrainingJobSpec = z
  .object({
    run: RunName,
    stage: z.union([z.literal(1), z.literal(2)]).default(2),
    config: z
      .record(z.string().regex(/^[a-z][a-z0-9_]*$/), z.union([z.number(), z.string(), z.boolean()]))
      .default({})
      .refine((c) => JOB_OWNED_CONFIG_KEYS.every((k) => !(k in c)), {
        message: `config must not set ${JOB_OWNED_CONFIG_KEYS.join(", ")} (the job sets them)`,
      })
      .describe("trainer config keys, as in gpu-jobs/configs/*.json"),
    init_run: RunName.optional().describe("stage 2: start from runs/<init_run>/best_gen.pt"),
    init: z
      .string()
      .regex(/^(?!\/)(?!.*(?:^|\/)\.\.(?:\/|$)).+$/)
      .optional()
      .describe("stage 2: start from this generator checkpoint, a path inside the Volume"),
    steps: z.number().int().positive().optional().describe("total steps (overrides the config)"),
    max_minutes: z.number().nonnegative().default(0).describe("stop cleanly after this long (0 = no limit)"),
    random_vgg: z.boolean().default(false).describe("ID-MRF on an untrained VGG19 (recorded in the manifest)"),
    export: z
      .object({
        name: z
          .string()
          .regex(/^[a-z0-9-]+$/)
          .default("gmcnn"),
        version: z.string().regex(/^[0-9]+\.[0-9]+\.[0-9]+(?:-[0-9A-Za-z.-]+)?$/),
      })
      .strict()
      .optional()
      .describe("evaluate, then write ONNX + manifest to runs/<run>/export/"),
    eval_n: z.number().int().min(1).max(1000).default(100),
  })
  .strict()
  .refine((s) => s.stage === 1 || s.init_run !== undefined || s.init !== undefined, {
    message: "stage 2 starts from a stage-1 generator: give init_run (or init)",
    path: ["init_run"],
  });

export type TrainingJobSpec = z.output<typeof TrainingJobSpec>;
export type TrainingJobSpecInput = z.input<typeof TrainingJobSpec>;

/**
 * running: queued or training (Modal does not tell them apart for a spawned call);
 * timed_out: the call hit the function's 24 h limit (spawn the same run again to resume).
 */
export const TrainingJobState = z.enum(["running", "succeeded", "failed", "cancelled", "timed_out"]);
export type TrainingJobState = z.infer<typeof TrainingJobState>;

/** What the function returns (extra keys are kept). */
export const TrainingJobResult = z.looseObject({
  run: z.string(),
  stage: z.union([z.literal(1), z.literal(2)]),
  step: z.number().int().nonnegative(),
  hours: z.number().nonnegative(),
  random_vgg: z.boolean(),
  checkpoint: z.string().describe("generator checkpoint on the Volume"),
  onnx: z.string().optional(),
  manifest: z.string().optional(),
});
export type TrainingJobResult = z.infer<typeof TrainingJobResult>;

export const TrainingJobStatus = z
  .object({
    id: z.string().min(1).describe("Modal function call id (fc-...)"),
    state: TrainingJobState,
    result: TrainingJobResult.optional(),
    error: z.string().optional(),
    checked_at: z.string(),
  })
  .strict();
export type TrainingJobStatus = z.infer<typeof TrainingJobStatus>;
