import { z } from "zod";

/** GET /v1/webhooks/default/secret: the Standard Webhooks signing secret of your account. */
export const WebhookSecret = z.object({
  key: z.string().describe("whsec_ + base64 of the HMAC-SHA256 key"),
});
export type WebhookSecret = z.infer<typeof WebhookSecret>;

/** POST /v1/webhooks/default/secret/rotate: the new secret, and until when the previous one still signs. */
export const RotatedWebhookSecret = WebhookSecret.extend({
  previous_retires_at: z
    .string()
    .nullable()
    .describe("until then deliveries are signed with the previous secret too; null if there was none"),
});
export type RotatedWebhookSecret = z.infer<typeof RotatedWebhookSecret>;
