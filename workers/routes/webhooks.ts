/**
 * The caller's webhook signing secret (Replicate's names): read it to verify deliveries, rotate
 * it when it leaks. After a rotation deliveries carry both signatures until the old secret
 * retires (WEBHOOK_SECRET_OVERLAP_S), so receivers can switch without dropping any.
 */
import { RotatedWebhookSecret, WebhookSecret } from "../../shared/schemas/webhook-secrets.ts";
import type { AppInstance } from "../app-env.ts";
import { ownerOf, requireApiKey } from "../auth.ts";
import type { Bindings } from "../env.ts";
import { noStore } from "../no-store.ts";
import { problemResponses, rateLimitHeaders } from "../openapi.ts";
import { currentSecret, rotateSecret } from "../webhooks/secrets.ts";

const DEFAULT_OVERLAP_S = 86400;

/** Seconds the rotated-out secret keeps signing; 0 retires it at once. */
export const secretOverlapSeconds = (env: Partial<Bindings>): number => {
  const raw = env.WEBHOOK_SECRET_OVERLAP_S;
  const n = Number(raw);
  return raw && Number.isFinite(n) && n >= 0 ? n : DEFAULT_OVERLAP_S;
};

export function registerWebhooks(app: AppInstance): void {
  app.openAPIRegistry.registerPath({
    method: "get",
    path: "/v1/webhooks/default/secret",
    summary: "Your webhook signing secret (created on first use)",
    description: "Deliveries carry `webhook-id`, `webhook-timestamp` and `webhook-signature` (Standard Webhooks).",
    security: [{ bearer: [] }],
    responses: {
      200: {
        description: "The current secret",
        headers: rateLimitHeaders,
        content: { "application/json": { schema: WebhookSecret } },
      },
      ...problemResponses([401, 429]),
    },
  });

  app.get("/v1/webhooks/default/secret", requireApiKey(), noStore(), async (c) =>
    c.json({ key: await currentSecret(c.env.DB, ownerOf(c.get("caller"))) }),
  );

  app.openAPIRegistry.registerPath({
    method: "post",
    path: "/v1/webhooks/default/secret/rotate",
    summary: "Replace your webhook signing secret; the old one keeps signing until previous_retires_at",
    security: [{ bearer: [] }],
    responses: {
      200: {
        description: "The new current secret",
        headers: rateLimitHeaders,
        content: { "application/json": { schema: RotatedWebhookSecret } },
      },
      ...problemResponses([401, 429]),
    },
  });

  app.post("/v1/webhooks/default/secret/rotate", requireApiKey(), noStore(), async (c) =>
    c.json(await rotateSecret(c.env.DB, ownerOf(c.get("caller")), secretOverlapSeconds(c.env) * 1000)),
  );
}
