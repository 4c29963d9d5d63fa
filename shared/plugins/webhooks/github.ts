/**
 * Webhook source `github`: GitHub-style signatures, as GitHub, Gitea, Forgejo and many CI systems
 * send them: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`, the delivery id in
 * `X-GitHub-Delivery` (or `X-Gitea-Delivery`), the event in `X-GitHub-Event`. There is no signed
 * timestamp, and the delivery id is not signed: the edge accepts the id once and the signed body
 * once per retention window (`signed` below). Body: a repository_dispatch-style
 * `{event_type, client_payload: {image_url, mask_url | mask_shapes, options, callback_url, nonce}}`;
 * `ping` events are acknowledged and ignored.
 */
import { z } from "zod";
import { invalidOptions } from "../../problems.ts";
import { bounded, STRING_LIMITS, StoredUrl } from "../../schemas/limits.ts";
import { MaskShapes } from "../../schemas/shapes.ts";
import { definePlugin } from "../contract.ts";
import { equalText, hmacHex, randomHexSecret, refuse } from "./hmac.ts";

const Dispatch = z.object({
  event_type: z.string().max(100).optional(),
  client_payload: z
    .object({
      image_url: StoredUrl(),
      mask_url: StoredUrl().optional(),
      mask_shapes: MaskShapes.optional(),
      options: z.record(z.string(), z.unknown()).optional(),
      callback_url: StoredUrl().optional(),
      /** Anything, to send the same request again on purpose: a replayed body is refused (docs/api.md). */
      nonce: bounded(STRING_LIMITS.id).optional(),
    })
    .strict(),
});

export const githubWebhooks = () =>
  definePlugin({
    name: "github",
    version: "1.0.0",
    kind: "webhook-source",
    description:
      "GitHub-style X-Hub-Signature-256 HMAC (GitHub, Gitea, CI systems), body {event_type, client_payload:{image_url, ...}}",
    setup: () => ({
      async verify(req, secret) {
        const sig = req.headers.get("x-hub-signature-256");
        const id = req.headers.get("x-github-delivery") ?? req.headers.get("x-gitea-delivery");
        if (!sig || !id)
          throw refuse(
            `missing header(s): ${[!sig && "X-Hub-Signature-256", !id && "X-GitHub-Delivery"].filter(Boolean).join(", ")}`,
          );
        const expected = `sha256=${await hmacHex("SHA-256", secret, req.body)}`;
        if (!equalText(sig.trim().toLowerCase(), expected)) throw refuse("X-Hub-Signature-256 does not match this secret");
        // The delivery id is not signed: the body is all the signature covers.
        return { id, signed: req.body };
      },
      toJob(payload, req) {
        const event = req.headers.get("x-github-event") ?? "repository_dispatch";
        if (event === "ping") return { ignore: "ping" };
        const r = Dispatch.safeParse(payload);
        if (!r.success) throw invalidOptions(r.error);
        const p = r.data.client_payload;
        const job = {
          ...(p.options ?? {}),
          image_url: p.image_url,
          mask_url: p.mask_url,
          mask_shapes: p.mask_shapes,
          webhook: p.callback_url,
        };
        return { job };
      },
      newSecret: randomHexSecret,
      async sign(secret, body, o) {
        return {
          "content-type": "application/json",
          "x-github-event": "repository_dispatch",
          "x-github-delivery": o.id ?? crypto.randomUUID(),
          "x-hub-signature-256": `sha256=${await hmacHex("SHA-256", secret, body)}`,
        };
      },
      example: {
        event_type: "inpaint",
        client_payload: {
          image_url: "https://images.example.com/photo.jpg",
          mask_shapes: { shapes: [{ type: "rect", x: 10, y: 10, width: 40, height: 20 }] },
          options: { dilate: 4 },
        },
      },
    }),
  });
