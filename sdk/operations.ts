/**
 * Every API operation the SDK calls: method, path, what it sends and what it gets back. The
 * drift test (test/sdk/openapi-drift.test.ts) holds this table against the running API's
 * /openapi.json, so a route that changes without the SDK fails the suite.
 */
export interface Operation {
  method: "get" | "post" | "delete";
  /** As in the OpenAPI document ({name} for path parameters). */
  path: string;
  /** Query parameters the SDK may send. */
  query?: readonly string[];
  /** Multipart fields the SDK may send (besides InpaintOptions when `options`). */
  form?: readonly string[];
  /** JSON body fields the SDK may send (besides InpaintOptions when `options`). */
  json?: readonly string[];
  /** The request also carries InpaintOptions (shared/schemas/options.ts). */
  options?: boolean;
  /** Billed: an Idempotency-Key goes with it, so a retry cannot charge twice. */
  billed?: boolean;
  /** Safe to resend after a network error (the server may have run it already). */
  idempotent: boolean;
  /** The success status and the shared schema of its body (by name), or binary. */
  status: number;
  response:
    | "Job"
    | "JobList"
    | "UploadInfo"
    | "LedgerPage"
    | "BrowserToken"
    | "DeliveryList"
    | "WebhookSecret"
    | "RotatedWebhookSecret"
    | "PluginList"
    | "binary"
    | "none";
}

const INPUTS = ["image", "image_id", "mask", "mask_shapes"] as const;

export const OPERATIONS = {
  inpaint: {
    method: "post",
    path: "/v1/inpaint",
    form: INPUTS,
    options: true,
    billed: true,
    idempotent: true,
    status: 200,
    response: "binary",
  },
  "uploads.create": {
    method: "post",
    path: "/v1/uploads",
    form: ["file"],
    idempotent: true,
    status: 201,
    response: "UploadInfo",
  },
  "uploads.delete": { method: "delete", path: "/v1/uploads/{id}", idempotent: true, status: 204, response: "none" },
  "jobs.create": {
    method: "post",
    path: "/v1/jobs",
    form: [...INPUTS, "webhook", "webhook_events_filter"],
    json: ["image_url", "image_id", "mask_url", "mask_shapes", "webhook", "webhook_events_filter"],
    options: true,
    billed: true,
    idempotent: true,
    status: 202,
    response: "Job",
  },
  "jobs.list": {
    method: "get",
    path: "/v1/jobs",
    query: ["cursor", "limit"],
    idempotent: true,
    status: 200,
    response: "JobList",
  },
  "jobs.get": { method: "get", path: "/v1/jobs/{id}", idempotent: true, status: 200, response: "Job" },
  "jobs.cancel": { method: "post", path: "/v1/jobs/{id}/cancel", idempotent: false, status: 200, response: "Job" },
  "jobs.result": {
    method: "get",
    path: "/v1/jobs/{id}/result",
    query: ["expires", "signature"],
    idempotent: true,
    status: 200,
    response: "binary",
  },
  "jobs.deliveries": { method: "get", path: "/v1/jobs/{id}/deliveries", idempotent: true, status: 200, response: "DeliveryList" },
  usage: { method: "get", path: "/v1/usage", query: ["cursor", "limit"], idempotent: true, status: 200, response: "LedgerPage" },
  plugins: { method: "get", path: "/v1/plugins", idempotent: true, status: 200, response: "PluginList" },
  "tokens.create": {
    method: "post",
    path: "/v1/tokens",
    json: ["scopes", "ttl_seconds", "origin"],
    idempotent: false,
    status: 201,
    response: "BrowserToken",
  },
  "webhooks.secret": {
    method: "get",
    path: "/v1/webhooks/default/secret",
    idempotent: true,
    status: 200,
    response: "WebhookSecret",
  },
  "webhooks.rotateSecret": {
    method: "post",
    path: "/v1/webhooks/default/secret/rotate",
    idempotent: false,
    status: 200,
    response: "RotatedWebhookSecret",
  },
} as const satisfies Record<string, Operation>;

export type OperationName = keyof typeof OPERATIONS;

/**
 * Routes of /openapi.json the SDK leaves out on purpose: the operator's admin API and the
 * signed server-to-server hooks of integrations. Anything else must be in OPERATIONS.
 */
export const NOT_IN_SDK: readonly RegExp[] = [
  /^\/v1\/admin\//,
  /^\/v1\/hooks\//,
  /^\/healthz$/,
  /^\/readyz$/,
  /^\/openapi\.json$/,
];
