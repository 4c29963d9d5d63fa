/**
 * Webhook source `standard-webhooks`: events signed per https://www.standardwebhooks.com
 * (webhook-id, webhook-timestamp, webhook-signature v1 HMAC-SHA256 with a whsec_ secret we
 * issue), body = our HookEvent: `{type, data: {image_url, mask_url | mask_shapes, options,
 * callback_url, webhook_events_filter}}`.
 */
import { invalidOptions } from "../../problems.ts";
import { HookEvent } from "../../schemas/jobs.ts";
import { newMessageId, newSecret, verifyWebhook, webhookHeaders } from "../../webhooks/signature.ts";
import { definePlugin } from "../contract.ts";

export const standardWebhooks = () =>
  definePlugin({
    name: "standard-webhooks",
    version: "1.0.0",
    kind: "webhook-source",
    description: "Standard Webhooks (webhook-id/-timestamp/-signature, whsec_ secret), body {type, data:{image_url, ...}}",
    setup: () => ({
      async verify(req, secret, o) {
        const { id, timestampS } = await verifyWebhook(secret, req.headers, req.body, { nowS: o.nowS, toleranceS: o.toleranceS });
        return { id, signed: `${id}.${timestampS}.${req.body}` };
      },
      toJob(payload) {
        const ev = HookEvent.safeParse(payload);
        if (!ev.success) throw invalidOptions(ev.error);
        const d = ev.data.data;
        const job = {
          ...(d.options ?? {}),
          image_url: d.image_url,
          mask_url: d.mask_url,
          mask_shapes: d.mask_shapes,
          webhook: d.callback_url,
          webhook_events_filter: d.webhook_events_filter,
        };
        return { job };
      },
      newSecret,
      sign: async (secret, body, o) => webhookHeaders([secret], o.id ?? newMessageId(), o.nowS, body),
      example: {
        type: "inpaint.requested",
        data: { image_url: "https://images.example.com/photo.jpg", mask_url: "https://images.example.com/photo-mask.png" },
      },
    }),
  });
