import { z } from "zod";
import { bounded, STRING_LIMITS, StoredUrl } from "./limits.ts";
import { InpaintOptions } from "./options.ts";
import { MaskShapes } from "./shapes.ts";

/** queued -> processing -> succeeded | failed; canceled from queued or processing. */
export const JobStatus = z.enum(["queued", "processing", "succeeded", "failed", "canceled"]);
export type JobStatus = z.infer<typeof JobStatus>;
export const FINAL_STATUSES: readonly JobStatus[] = ["succeeded", "failed", "canceled"];

/** Events a job's webhook receives (`webhook_events_filter`); `completed` covers every final status. */
export const WebhookEvent = z.enum(["started", "completed"]);
export type WebhookEvent = z.infer<typeof WebhookEvent>;

/** `webhook_events_filter` as a list or as comma-separated text; default: completed only. */
export const WebhookEventsFilter = z
  .union([z.array(WebhookEvent).max(10), bounded(100)])
  .transform((v, ctx) => {
    const list =
      typeof v === "string"
        ? v
            .split(",")
            .map((s) => s.trim())
            .filter(Boolean)
        : v;
    const bad = list.filter((e) => !WebhookEvent.options.includes(e as WebhookEvent));
    if (bad.length) ctx.addIssue({ code: "custom", message: `unknown event(s) ${bad.join(", ")}; use started, completed` });
    return [...new Set(list)] as WebhookEvent[];
  })
  .pipe(z.array(WebhookEvent).min(1, "name at least one event"));

/** POST /v1/jobs as JSON: inputs by URL (https; fetched by the edge under the upload limits). */
export const CreateJobJson = InpaintOptions.extend({
  image_url: StoredUrl().optional(),
  image_id: bounded(STRING_LIMITS.id).optional(),
  mask_url: StoredUrl().optional(),
  mask_shapes: MaskShapes.optional(),
  webhook: StoredUrl().optional(),
  webhook_events_filter: WebhookEventsFilter.optional(),
}).strict();
export type CreateJobJson = z.infer<typeof CreateJobJson>;

export const JobError = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string().optional(),
});
export type JobError = z.infer<typeof JobError>;

/** A job as the API shows it. */
export const Job = z.object({
  id: z.string(),
  status: JobStatus,
  created_at: z.string(),
  started_at: z.string().nullable(),
  completed_at: z.string().nullable(),
  /** When the inputs and the result are deleted. */
  expires_at: z.string(),
  source: z.string().describe("api, or hook:<integration>"),
  options: InpaintOptions,
  webhook: bounded(STRING_LIMITS.url).nullable(),
  webhook_events_filter: z.array(WebhookEvent),
  attempts: z.number().int().describe("runs that reached the GPU step (retries after GPU failures count)"),
  credits_charged: z.number().int(),
  error: JobError.nullable(),
  output: z
    .object({
      url: z.string().describe("signed download URL, valid until url_expires_at (or GET it with your API key)"),
      url_expires_at: z.string().nullable(),
      content_type: z.string(),
      model: z.string(),
      regions: z.number().int(),
      cache: z.string(),
    })
    .nullable(),
  urls: z.object({ get: z.string(), cancel: z.string(), deliveries: z.string() }),
});
export type Job = z.infer<typeof Job>;

/** GET /v1/jobs: one page, newest first; `next_cursor` for the next. */
export const JobList = z.object({ jobs: z.array(Job), next_cursor: z.string().nullable() });
export type JobList = z.infer<typeof JobList>;

/** Body of a job webhook (Standard Webhooks: type, timestamp, data). */
export const JobWebhookPayload = z.object({
  type: z.enum(["job.started", "job.completed"]),
  timestamp: z.string(),
  data: Job,
});
export type JobWebhookPayload = z.infer<typeof JobWebhookPayload>;

export const DeliveryAttempt = z.object({
  attempt: z.number().int(),
  at: z.string(),
  status_code: z.number().int().nullable(),
  error: z.string().nullable(),
  duration_ms: z.number().int(),
});
export const Delivery = z.object({
  id: z.string().describe("the webhook-id header, the same on every attempt"),
  event: z.string(),
  url: z.string(),
  status: z.enum(["pending", "delivered", "failed"]),
  attempts: z.array(DeliveryAttempt),
  next_attempt_at: z.string().nullable(),
});
export type Delivery = z.infer<typeof Delivery>;
export const DeliveryList = z.object({ deliveries: z.array(Delivery) });
export type DeliveryList = z.infer<typeof DeliveryList>;

/** Queue messages. */
export const JobMessage = z.object({ job_id: z.string() });
export type JobMessage = z.infer<typeof JobMessage>;
export const DeliveryMessage = z.object({ delivery_id: z.string() });
export type DeliveryMessage = z.infer<typeof DeliveryMessage>;

/**
 * What an integration posts to POST /v1/hooks/{integration} (signed with its secret): an image
 * URL, a mask (URL or shapes), options, and optionally where to send the result.
 */
export const HookEvent = z.object({
  type: bounded(STRING_LIMITS.id).describe("e.g. inpaint.requested"),
  timestamp: bounded(STRING_LIMITS.timestamp).optional(),
  data: z
    .object({
      image_url: StoredUrl(),
      mask_url: StoredUrl().optional(),
      mask_shapes: MaskShapes.optional(),
      options: z
        .record(z.string(), z.unknown())
        .optional()
        .describe("inpaint options, as for POST /v1/jobs (core options and the loaded plugins' options)"),
      callback_url: StoredUrl().optional(),
      webhook_events_filter: WebhookEventsFilter.optional(),
    })
    .strict(),
});
export type HookEvent = z.infer<typeof HookEvent>;

/** Body of POST /v1/admin/integrations. */
export const CreateIntegration = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{1,62}$/, "lowercase letters, digits and dashes, 2 to 63 characters"),
  account_id: bounded(STRING_LIMITS.id).min(1),
  source: bounded(STRING_LIMITS.id)
    .default("standard-webhooks")
    .describe(
      "the webhook-source plugin that verifies and maps its events (GET /v1/plugins: standard-webhooks, github, cloudinary)",
    ),
  secret: z
    .string()
    .min(16)
    .max(512)
    .optional()
    .describe(
      "the sender's own signing secret (required for sources that cannot take one we issue, e.g. cloudinary's API secret)",
    ),
});
export const CreatedIntegration = z.object({
  name: z.string(),
  account_id: z.string(),
  source: z.string(),
  secret: z
    .string()
    .optional()
    .describe("the secret we issued (whsec_... for Standard Webhooks): configure the sender with it; shown once"),
  url: z.string(),
});
