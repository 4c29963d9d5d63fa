import { z } from "zod";
import { originProblem, STRING_LIMITS } from "./string-limits.ts";

export { originProblem, STRING_LIMITS };

/**
 * The edge's upload limits where no setting overrides them (workers/env.ts `uploadLimits`); the
 * widget checks a file at load against the same numbers (web/widget/limits.ts).
 */
export const DEFAULT_UPLOAD_LIMITS = { maxUploadBytes: 20 * 1024 * 1024, maxMegapixels: 8, maxSide: 12000 } as const;

/** The problem kind the edge answers for an issue (zod issue params): see shared/problems.ts. */
export type IssueProblem = "value-too-long" | "invalid-origin";

/** A string of at most `max` characters; over it, a `too_big` issue the edge answers with 422 value-too-long. */
export const bounded = (max: number) => z.string().max(max, `at most ${max} characters`);

/** A URL we store (https in production; the SSRF guard checks it further). */
export const StoredUrl = () => bounded(STRING_LIMITS.url).url();

/** The Idempotency-Key header: 1 to 255 visible ASCII characters. */
export const IdempotencyKey = z
  .string()
  .min(1)
  .max(STRING_LIMITS.idempotencyKey, `at most ${STRING_LIMITS.idempotencyKey} characters`)
  .regex(/^[\x21-\x7e]+$/, "visible ASCII characters only");

/** An origin exactly as browsers send it in the Origin header; anything else is a 422 invalid-origin. */
export const Origin = bounded(STRING_LIMITS.origin).superRefine((v, ctx) => {
  const why = originProblem(v);
  if (why) ctx.addIssue({ code: "custom", message: why, params: { problem: "invalid-origin" satisfies IssueProblem } });
});
