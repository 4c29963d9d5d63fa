/**
 * A job as the API and the webhooks show it, with its URLs. The result URL is signed (HMAC of
 * job id and expiry with URL_SIGNING_SECRET) so that a webhook receiver can download it without
 * an API key; without that secret it is the plain URL, which the owner's API key opens.
 */
import type { Job } from "../../shared/schemas/jobs.ts";
import type { Bindings } from "../env.ts";
import { jobSettings } from "./settings.ts";
import type { JobRow } from "./store.ts";

const enc = new TextEncoder();
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

async function hmacHex(secret: string, text: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const sig = new Uint8Array(await crypto.subtle.sign("HMAC", key, enc.encode(text)));
  return [...sig].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export const resultPath = (id: string) => `/v1/jobs/${id}/result`;

/** `?expires=&signature=` for the result of job `id`, or null when no signing secret is set. */
export async function signResult(env: Bindings, id: string, nowS = Math.floor(Date.now() / 1000)) {
  if (!env.URL_SIGNING_SECRET) return null;
  const expires = nowS + jobSettings(env).resultUrlTtlS;
  return { expires, signature: await hmacHex(env.URL_SIGNING_SECRET, `${id}.${expires}`) };
}

/** Checks a signed result URL's query (constant time); false when unsigned, expired or wrong. */
export async function resultSignatureValid(
  env: Bindings,
  id: string,
  expires: string | undefined,
  signature: string | undefined,
  nowS = Math.floor(Date.now() / 1000),
): Promise<boolean> {
  if (!env.URL_SIGNING_SECRET || !expires || !signature || !/^\d+$/.test(expires) || Number(expires) < nowS) return false;
  const want = enc.encode(await hmacHex(env.URL_SIGNING_SECRET, `${id}.${expires}`));
  const got = enc.encode(signature);
  return want.length === got.length && crypto.subtle.timingSafeEqual(want, got);
}

export async function jobView(env: Bindings, j: JobRow): Promise<Job> {
  const base = `${j.input.base}/v1/jobs/${j.id}`;
  let output: Job["output"] = null;
  if (j.status === "succeeded" && j.result && j.purged_at === null) {
    const signed = await signResult(env, j.id);
    output = {
      url: `${j.input.base}${resultPath(j.id)}${signed ? `?expires=${signed.expires}&signature=${signed.signature}` : ""}`,
      url_expires_at: signed ? iso(signed.expires * 1000) : null,
      content_type: j.result.content_type,
      model: j.result.model,
      regions: j.result.regions,
      cache: j.result.cache,
    };
  }
  return {
    id: j.id,
    status: j.status,
    created_at: iso(j.created_at) as string,
    started_at: iso(j.started_at),
    completed_at: iso(j.completed_at),
    expires_at: iso(j.expires_at) as string,
    source: j.source,
    options: j.input.options,
    webhook: j.webhook,
    webhook_events_filter: j.webhook_events,
    attempts: j.attempts,
    credits_charged: j.credits_charged,
    error: j.error,
    output,
    urls: { get: base, cancel: `${base}/cancel`, deliveries: `${base}/deliveries` },
  };
}
