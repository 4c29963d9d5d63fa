/** OpenAPI pieces shared by the routes: the problem+json document and its responses. */
import { z } from "@hono/zod-openapi";
import { PROBLEM_BASE, PROBLEMS } from "../shared/problems.ts";

export const ProblemSchema = z
  .object({
    type: z.string().openapi({ example: `${PROBLEM_BASE}gpu-busy` }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    instance: z.string().optional(),
    request_id: z.string().optional(),
  })
  .catchall(z.unknown())
  .openapi("Problem", { description: "RFC 9457 problem details; `type` is stable per error class" });

/** One documented response per status, listing the problem types that produce it. */
export function problemResponses(statuses: number[]): Record<number, object> {
  const out: Record<number, object> = {};
  for (const status of statuses) {
    const kinds = Object.entries(PROBLEMS)
      .filter(([, p]) => p.status === status)
      .map(([k]) => `\`${k}\``);
    out[status] = {
      description: `${kinds.join(", ")}${status >= 500 || status === 429 ? " (with Retry-After)" : ""}`,
      content: { "application/problem+json": { schema: ProblemSchema } },
    };
  }
  return out;
}

/** Response headers of authenticated routes (rate limit) and billed calls (credits). */
export const rateLimitHeaders = {
  RateLimit: {
    schema: { type: "string" as const },
    description: 'IETF draft, e.g. `"default";r=42;t=17` (remaining, seconds to reset)',
  },
  "RateLimit-Policy": { schema: { type: "string" as const }, description: 'IETF draft, e.g. `"default";q=120;w=60`' },
};
export const billingHeaders = {
  ...rateLimitHeaders,
  "X-Credits-Charged": { schema: { type: "integer" as const }, description: "account keys: credits this call cost" },
  "X-Credits-Remaining": { schema: { type: "integer" as const }, description: "account keys: the balance after this call" },
};
