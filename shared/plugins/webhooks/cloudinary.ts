/**
 * Webhook source `cloudinary`: Cloudinary upload notifications. Signature: `X-Cld-Signature` =
 * hex SHA-1 (or SHA-256, by the account's setting) of body + `X-Cld-Timestamp` + the account's
 * API secret, which the integration registers (we cannot issue it); the timestamp must be
 * within the tolerance. An `upload` of an image whose contextual metadata names a mask
 * (`gmcnn_mask_url`, or `gmcnn_mask_shapes` as JSON) becomes a job on its `secure_url`;
 * `gmcnn_options` (JSON) and `gmcnn_callback_url` are optional. Other notifications are ignored.
 */
import { z } from "zod";
import { invalidOptions, Problem } from "../../problems.ts";
import { StoredUrl } from "../../schemas/limits.ts";
import { definePlugin } from "../contract.ts";
import { digestHex, equalText, refuse } from "./hmac.ts";

const Upload = z.object({
  notification_type: z.string(),
  resource_type: z.string().optional(),
  secure_url: StoredUrl().optional(),
  context: z
    .object({ custom: z.record(z.string(), z.string()).optional() })
    .loose()
    .optional(),
});

function json(field: string, raw: string | undefined): unknown {
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw);
  } catch (e) {
    throw new Problem("bad-request", `context.custom.${field} is not JSON (${(e as Error).message})`, { field });
  }
}

export const cloudinaryWebhooks = () =>
  definePlugin({
    name: "cloudinary",
    version: "1.0.0",
    kind: "webhook-source",
    description: "Cloudinary upload notifications (X-Cld-Signature, X-Cld-Timestamp; the mask named in the asset's context)",
    setup: () => ({
      async verify(req, secret, o) {
        const sig = req.headers.get("x-cld-signature");
        const ts = req.headers.get("x-cld-timestamp");
        if (!sig || !ts)
          throw refuse(`missing header(s): ${[!sig && "X-Cld-Signature", !ts && "X-Cld-Timestamp"].filter(Boolean).join(", ")}`);
        if (!/^\d{1,15}$/.test(ts)) throw refuse("X-Cld-Timestamp is not a number of seconds since the epoch");
        if (Math.abs(o.nowS - Number(ts)) > o.toleranceS)
          throw refuse(`X-Cld-Timestamp is more than ${o.toleranceS} s away from now`);
        const s = sig.trim().toLowerCase();
        const expected = await digestHex(s.length === 64 ? "SHA-256" : "SHA-1", req.body + ts + secret);
        if (!equalText(s, expected)) throw refuse("X-Cld-Signature does not match this API secret");
        return { id: `${ts}:${s}`, signed: req.body + ts };
      },
      toJob(payload) {
        const r = Upload.safeParse(payload);
        if (!r.success) throw invalidOptions(r.error);
        const n = r.data;
        if (n.notification_type !== "upload") return { ignore: `notification_type ${n.notification_type}` };
        if (n.resource_type && n.resource_type !== "image") return { ignore: `resource_type ${n.resource_type}` };
        const ctx = n.context?.custom ?? {};
        if (!ctx.gmcnn_mask_url && !ctx.gmcnn_mask_shapes)
          return { ignore: "no gmcnn_mask_url or gmcnn_mask_shapes in the asset's context" };
        if (!n.secure_url) throw new Problem("bad-request", "the upload notification has no secure_url", { field: "secure_url" });
        const options = json("gmcnn_options", ctx.gmcnn_options) ?? {};
        if (typeof options !== "object" || Array.isArray(options))
          throw new Problem("bad-request", "context.custom.gmcnn_options must be a JSON object", { field: "gmcnn_options" });
        const job = {
          ...(options as Record<string, unknown>),
          image_url: n.secure_url,
          mask_url: ctx.gmcnn_mask_url,
          mask_shapes: json("gmcnn_mask_shapes", ctx.gmcnn_mask_shapes) as never,
          webhook: ctx.gmcnn_callback_url,
        };
        return { job };
      },
      async sign(secret, body, o) {
        return {
          "content-type": "application/json",
          "x-cld-timestamp": String(o.nowS),
          "x-cld-signature": await digestHex("SHA-1", body + o.nowS + secret),
        };
      },
      example: {
        notification_type: "upload",
        resource_type: "image",
        public_id: "shoots/photo",
        secure_url: "https://res.cloudinary.com/demo/image/upload/v1/shoots/photo.jpg",
        context: { custom: { gmcnn_mask_url: "https://res.cloudinary.com/demo/image/upload/v1/shoots/photo-mask.png" } },
      },
    }),
  });
