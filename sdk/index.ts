/**
 * gmcnn-edge SDK: typed calls to the inpainting API with automatic Idempotency-Keys, retries that
 * honour Retry-After, one error type carrying the problem document, and webhook verification.
 * See docs/sdk.md.
 */
export type { LedgerEntry, LedgerPage } from "../shared/schemas/accounts.ts";
export type { Job, JobList, JobStatus, JobWebhookPayload } from "../shared/schemas/jobs.ts";
export type { InpaintOptionsInput } from "../shared/schemas/options.ts";
export type { MaskShapes, MaskShapesInput, Shape } from "../shared/schemas/shapes.ts";
export type { BrowserToken, CreateToken, TokenScope } from "../shared/schemas/tokens.ts";
export type { UploadInfo } from "../shared/schemas/uploads.ts";
export {
  type CallOptions,
  type CreateJobRequest,
  Gmcnn,
  type GmcnnOptions,
  type InpaintResult,
  type PluginList,
  type WaitOptions,
} from "./client.ts";
export { type ErrorKind, GmcnnError } from "./errors.ts";
export type { RetryEvent, RetryPolicy, TokenSource } from "./http.ts";
export type { ImageInput, InpaintRequest, MaskInput } from "./inputs.ts";
export { NOT_IN_SDK, OPERATIONS, type Operation, type OperationName } from "./operations.ts";
export { type Point, type PolygonShape, type RectShape, type StrokeShape, shapes } from "./shapes.ts";
export { type WebhookHeaders, webhooks } from "./webhooks.ts";
