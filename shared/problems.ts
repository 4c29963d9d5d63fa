/**
 * Every error the product can report, as RFC 9457 problem types: one table, one class.
 * The edge renders them as application/problem+json; the CLI prints `title: detail`.
 */
export const PROBLEM_BASE = "https://gmcnn-edge.dev/problems/";

export const PROBLEMS = {
  "bad-request": { status: 400, title: "Bad request" },
  "invalid-options": { status: 400, title: "Invalid options" },
  unauthorized: { status: 401, title: "Missing or invalid API key" },
  "admin-unauthorized": { status: 401, title: "Missing or invalid admin token" },
  "invalid-signature": { status: 401, title: "Missing or invalid webhook signature" },
  "payment-required": { status: 402, title: "Not enough credits" },
  forbidden: { status: 403, title: "Forbidden" },
  "not-found": { status: 404, title: "Not found" },
  "upload-not-found": { status: 404, title: "Unknown upload id" },
  "job-not-found": { status: 404, title: "Unknown job" },
  "method-not-allowed": { status: 405, title: "Method not allowed" },
  "idempotency-in-flight": { status: 409, title: "A request with this Idempotency-Key is in progress" },
  "job-finished": { status: 409, title: "The job has already finished" },
  "webhook-replayed": { status: 409, title: "This webhook-id was already received" },
  "result-gone": { status: 410, title: "The result is no longer available" },
  "payload-too-large": { status: 413, title: "Payload too large" },
  "image-too-large": { status: 413, title: "Image dimensions too large" },
  "unsupported-media-type": { status: 415, title: "Unsupported media type" },
  "undecodable-image": { status: 422, title: "Image could not be decoded" },
  "image-too-complex": { status: 422, title: "Image is too costly to decode" },
  "mask-mismatch": { status: 422, title: "Mask does not match the image" },
  "mask-too-large": { status: 422, title: "Mask covers too much of the image" },
  "mask-too-complex": { status: 422, title: "Mask is too complex to read" },
  "model-not-found": { status: 422, title: "Unknown model" },
  "idempotency-mismatch": { status: 422, title: "Idempotency-Key reused with a different request" },
  "unsafe-url": { status: 422, title: "URL refused" },
  "value-too-long": { status: 422, title: "A value is longer than its limit" },
  "invalid-origin": { status: 422, title: "Not an origin" },
  "fetch-failed": { status: 422, title: "An input URL could not be fetched" },
  "rate-limited": { status: 429, title: "Too many requests" },
  internal: { status: 500, title: "Internal error" },
  "plugin-config": { status: 500, title: "Invalid plugin configuration" },
  "gpu-bad-response": { status: 502, title: "GPU function returned an invalid response" },
  "gpu-unavailable": { status: 503, title: "GPU function unavailable" },
  "gpu-busy": { status: 503, title: "GPU function is busy" },
  "gpu-timeout": { status: 504, title: "GPU function timed out" },
  "queue-unavailable": { status: 503, title: "The job queue is unavailable" },
} as const satisfies Record<string, { status: number; title: string }>;

export type ProblemKind = keyof typeof PROBLEMS;

export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  [extension: string]: unknown;
}

export class Problem extends Error {
  readonly kind: ProblemKind;
  readonly status: number;
  readonly title: string;
  readonly extensions: Record<string, unknown>;
  /** Seconds, for 429/503/504: rendered as a Retry-After header. */
  readonly retryAfter?: number;

  constructor(kind: ProblemKind, detail: string, extensions: Record<string, unknown> = {}, retryAfter?: number) {
    super(detail);
    this.name = "Problem";
    this.kind = kind;
    this.status = PROBLEMS[kind].status;
    this.title = PROBLEMS[kind].title;
    this.extensions = extensions;
    this.retryAfter = retryAfter;
  }

  get type(): string {
    return PROBLEM_BASE + this.kind;
  }

  toJSON(instance?: string): ProblemDocument {
    return {
      ...this.extensions,
      type: this.type,
      title: this.title,
      status: this.status,
      detail: this.message,
      ...(instance ? { instance } : {}),
    };
  }
}

export const isProblem = (e: unknown): e is Problem => e instanceof Problem;

/** The zod issues of a failed parse, as the issue list invalid-options problems carry. */
export interface ZodLikeError {
  issues: readonly {
    path: readonly PropertyKey[];
    code: string;
    message: string;
    origin?: string;
    params?: Record<string, unknown>;
  }[];
}

/** The problem a set of issues answers: a tagged issue's own (invalid-origin), a string over its limit's, or invalid-options. */
function kindOf(issues: ZodLikeError["issues"]): ProblemKind {
  for (const i of issues) {
    const p = i.params?.problem;
    if (typeof p === "string" && p in PROBLEMS) return p as ProblemKind;
  }
  if (issues.some((i) => i.code === "too_big" && i.origin === "string")) return "value-too-long";
  return "invalid-options";
}

/**
 * The one way the API reports invalid fields, wherever the schema was applied, listing every
 * zod issue (field path under `prefix`, code, message): 400 invalid-options; 422 value-too-long
 * when a string is over its limit (shared/schemas/limits.ts); 422 invalid-origin for an origin.
 */
export function invalidOptions(e: ZodLikeError, prefix: readonly PropertyKey[] = []): Problem {
  const issues = e.issues.map((i) => ({ field: [...prefix, ...i.path].join(".") || null, code: i.code, message: i.message }));
  const detail = issues.map((i) => (i.field ? `${i.field}: ${i.message}` : i.message)).join("; ");
  return new Problem(kindOf(e.issues), detail, { issues });
}
