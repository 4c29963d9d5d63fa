/**
 * POST /v1/tokens: a short-lived, scoped browser token minted with an API key
 * (workers/browser-tokens.ts). POST /demo/token: the same for the local demo page, which has no
 * server of its own; it exists only where DEMO_TOKENS=true (`npm start`), and mints for the first
 * dev key of API_KEYS.
 */
import { Problem } from "../../shared/problems.ts";
import { BrowserToken, CreateToken } from "../../shared/schemas/tokens.ts";
import type { AppInstance } from "../app-env.ts";
import { configuredKeys, requireApiKey } from "../auth.ts";
import { mintToken } from "../browser-tokens.ts";
import { sha256Hex } from "../cache.ts";
import { invalidOptions } from "../form.ts";
import { noStore } from "../no-store.ts";
import { problemResponses, rateLimitHeaders } from "../openapi.ts";

export function registerTokens(app: AppInstance): void {
  app.openAPIRegistry.registerPath({
    method: "post",
    path: "/v1/tokens",
    operationId: "createToken",
    summary: "Mint a short-lived browser token (scoped, expiring) so that a page never sees your API key",
    description:
      "Call it from your server with your API key and give the token to the page (the `<gmcnn-inpaint>` widget, the SDK). " +
      "The token bills your account, shares your key's rate limit, works only on the routes of its scopes, and dies " +
      "when it expires or when your key is revoked. It cannot mint tokens.",
    security: [{ bearer: [] }],
    request: { body: { required: false, content: { "application/json": { schema: CreateToken } } } },
    responses: {
      201: {
        description: "The token (shown once)",
        headers: rateLimitHeaders,
        content: { "application/json": { schema: BrowserToken } },
      },
      ...problemResponses([400, 401, 403, 429]),
    },
  });

  app.post("/v1/tokens", requireApiKey(), noStore(), async (c) => {
    let raw: unknown = {};
    const text = await c.req.text();
    if (text.trim()) {
      try {
        raw = JSON.parse(text);
      } catch (e) {
        throw new Problem("bad-request", `the JSON body could not be parsed (${(e as Error).message})`);
      }
    }
    const req = CreateToken.safeParse(raw);
    if (!req.success) throw invalidOptions(req.error);
    return c.json(await mintToken(c.env, c.get("caller"), req.data), 201);
  });

  app.post("/demo/token", noStore(), async (c) => {
    const devKey = configuredKeys(c.env.API_KEYS)[0];
    if (c.env.DEMO_TOKENS !== "true" || !devKey) throw new Problem("not-found", "the demo token route is off (DEMO_TOKENS)");
    const caller = { keyId: `dev:${(await sha256Hex(devKey)).slice(0, 16)}` };
    const origin = new URL(c.req.url).origin;
    return c.json(await mintToken(c.env, caller, { scopes: ["inpaint", "uploads", "jobs"], ttl_seconds: 900, origin }), 201);
  });
}
