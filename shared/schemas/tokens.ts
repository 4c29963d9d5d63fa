import { z } from "zod";
import { Origin } from "./limits.ts";

/**
 * Browser tokens (POST /v1/tokens): what an integrator's server mints with its API key and hands
 * to a page, so that the page never sees the key. Short-lived and limited to the scopes named.
 */
export const TokenScope = z.enum(["inpaint", "uploads", "jobs"]);
export type TokenScope = z.infer<typeof TokenScope>;

export const TOKEN_TTL_MAX_S = 3600;

/** Body of POST /v1/tokens. */
export const CreateToken = z
  .object({
    scopes: z
      .array(TokenScope)
      .min(1)
      .default(["inpaint"])
      .describe(
        "inpaint: POST /v1/inpaint; uploads: POST and DELETE /v1/uploads; jobs: POST /v1/jobs and GET, cancel, result of a job",
      ),
    ttl_seconds: z.number().int().min(30).max(TOKEN_TTL_MAX_S).default(900).describe("lifetime, 30 s to 1 h"),
    origin: Origin.optional().describe(
      "when set, browser requests from another Origin are refused. Exactly as a browser sends it: " +
        "scheme://host[:port], lowercase, no default port, no path, query, fragment, userinfo or wildcard (422 invalid-origin)",
    ),
  })
  .strict();
export type CreateToken = z.input<typeof CreateToken>;

/** Answer of POST /v1/tokens: the token appears here only. */
export const BrowserToken = z.object({
  token: z.string().describe("gmt_...: send it as `Authorization: Bearer <token>`"),
  id: z.string(),
  scopes: z.array(TokenScope),
  origin: z.string().nullable(),
  expires_at: z.string().describe("ISO 8601"),
});
export type BrowserToken = z.infer<typeof BrowserToken>;
