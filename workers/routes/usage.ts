/** GET /v1/usage: the calling account's balance and ledger, newest first, paginated by cursor. */
import { Problem } from "../../shared/problems.ts";
import { LedgerPage, LedgerQuery } from "../../shared/schemas/accounts.ts";
import type { AppInstance } from "../app-env.ts";
import { requireApiKey } from "../auth.ts";
import { ledgerPage } from "../billing/ledger.ts";
import { problemResponses, rateLimitHeaders } from "../openapi.ts";

export function registerUsage(app: AppInstance): void {
  app.openAPIRegistry.registerPath({
    method: "get",
    path: "/v1/usage",
    summary: "Your credits and ledger (credits granted, calls charged), newest first",
    security: [{ bearer: [] }],
    request: { query: LedgerQuery },
    responses: {
      200: {
        description: "One page; pass next_cursor as cursor for the next",
        headers: rateLimitHeaders,
        content: { "application/json": { schema: LedgerPage } },
      },
      ...problemResponses([400, 401, 403, 429]),
    },
  });

  app.get("/v1/usage", requireApiKey(), async (c) => {
    const accountId = c.get("caller").accountId;
    if (!accountId) throw new Problem("forbidden", "dev keys (API_KEYS) are unmetered and have no account");
    const q = LedgerQuery.safeParse(c.req.query());
    if (!q.success) throw new Problem("bad-request", "cursor must be a next_cursor value, limit 1 to 200");
    const page = await ledgerPage(c.env.DB, accountId, q.data);
    if (!page) throw new Problem("unauthorized", "the account of this key no longer exists");
    return c.json(page);
  });
}
