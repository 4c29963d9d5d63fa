/**
 * Verifies a job webhook (Standard Webhooks, the `standardwebhooks` library): the signature over
 * `id.timestamp.body` with your `whsec_` secret, in constant time, within 5 minutes. Pass the raw
 * body as received: a re-serialised JSON body does not verify.
 */
import { Webhook } from "standardwebhooks";
import { PROBLEM_BASE, PROBLEMS } from "../shared/problems.ts";
import type { JobWebhookPayload } from "../shared/schemas/jobs.ts";
import { GmcnnError } from "./errors.ts";

export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>;

function plainHeaders(h: WebhookHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof (h as Headers).forEach === "function" && typeof (h as Headers).get === "function")
    (h as Headers).forEach((v, k) => {
      out[k.toLowerCase()] = v;
    });
  else
    for (const [k, v] of Object.entries(h as Record<string, string | string[] | undefined>))
      if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(", ") : v;
  return out;
}

/**
 * The verified payload, or a GmcnnError of kind `invalid-signature`. `secret` may be a list
 * (during a rotation both the new and the previous secret sign).
 */
export function verify(
  headers: WebhookHeaders,
  body: string | ArrayBuffer | Uint8Array,
  secret: string | readonly string[],
): JobWebhookPayload {
  const text = typeof body === "string" ? body : new TextDecoder().decode(body);
  const h = plainHeaders(headers);
  let last: unknown;
  for (const s of typeof secret === "string" ? [secret] : secret) {
    try {
      return new Webhook(s).verify(text, h) as JobWebhookPayload;
    } catch (e) {
      last = e;
    }
  }
  const p = PROBLEMS["invalid-signature"];
  throw new GmcnnError(
    {
      type: `${PROBLEM_BASE}invalid-signature`,
      title: p.title,
      status: p.status,
      detail: (last as Error)?.message ?? "no secret given",
    },
    { cause: last },
  );
}

export const webhooks = { verify };
