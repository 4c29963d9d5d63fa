/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com), with WebCrypto only:
 * `webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`, one entry per
 * secret (several while a rotated-out secret is still in its overlap), key = the base64 after
 * `whsec_`. Receivers verify with any Standard Webhooks library or with verifyWebhook below.
 */
import { Problem } from "../problems.ts";

const SECRET_PREFIX = "whsec_";
const DEFAULT_TOLERANCE_S = 5 * 60;
const enc = new TextEncoder();

export const toBase64 = (bytes: Uint8Array): string => btoa(String.fromCharCode(...bytes));
const fromBase64 = (b64: string): Uint8Array => Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
const randomBytes = (n: number) => crypto.getRandomValues(new Uint8Array(n));

/** `whsec_` + base64 of 24 random bytes (192 bits, as Svix/Replicate issue them). */
export const newSecret = (): string => SECRET_PREFIX + toBase64(randomBytes(24));

/** `msg_` + 128 random bits, base64url: unique per message, kept across its retries. */
export const newMessageId = (): string =>
  `msg_${toBase64(randomBytes(16)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")}`;

function secretKey(secret: string): Uint8Array {
  const b64 = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  let key: Uint8Array;
  try {
    key = fromBase64(b64);
  } catch {
    throw new TypeError("webhook secret is not whsec_ + base64");
  }
  if (key.length === 0) throw new TypeError("webhook secret is empty");
  return key;
}

async function hmac(secret: string, id: string, timestampS: number, body: string): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey("raw", secretKey(secret) as BufferSource, { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, enc.encode(`${id}.${timestampS}.${body}`)));
}

/** `v1,<sig>` per secret, space-separated: a receiver holding any one of them accepts. */
export async function signatureHeader(secrets: string[], id: string, timestampS: number, body: string): Promise<string> {
  const sigs = await Promise.all(secrets.map(async (s) => `v1,${toBase64(await hmac(s, id, timestampS, body))}`));
  return sigs.join(" ");
}

export async function webhookHeaders(
  secrets: string[],
  id: string,
  timestampS: number,
  body: string,
): Promise<Record<string, string>> {
  return {
    "webhook-id": id,
    "webhook-timestamp": String(timestampS),
    "webhook-signature": await signatureHeader(secrets, id, timestampS, body),
    "content-type": "application/json",
  };
}

/** Equal same-length byte arrays, without an early exit (portable: Node's WebCrypto has no timingSafeEqual). */
function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ (b[i] ?? 0);
  return diff === 0;
}

const refuse = (detail: string) => new Problem("invalid-signature", detail);

/**
 * Checks a received webhook against one secret; returns its id and timestamp (the caller
 * dedupes on the id). The timestamp window bounds how long a captured request can be replayed.
 */
export async function verifyWebhook(
  secret: string,
  headers: Headers,
  body: string,
  opts: { nowS?: number; toleranceS?: number } = {},
): Promise<{ id: string; timestampS: number }> {
  const id = headers.get("webhook-id");
  const ts = headers.get("webhook-timestamp");
  const sig = headers.get("webhook-signature");
  const missing = [!id && "webhook-id", !ts && "webhook-timestamp", !sig && "webhook-signature"].filter(Boolean);
  if (!id || !ts || !sig) throw refuse(`missing header(s): ${missing.join(", ")}`);
  if (!/^\d{1,15}$/.test(ts)) throw refuse("webhook-timestamp is not a number of seconds since the epoch");

  const timestampS = Number(ts);
  const nowS = opts.nowS ?? Math.floor(Date.now() / 1000);
  const tolerance = opts.toleranceS ?? DEFAULT_TOLERANCE_S;
  if (nowS - timestampS > tolerance) throw refuse(`webhook-timestamp is more than ${tolerance} s old`);
  if (timestampS - nowS > tolerance) throw refuse(`webhook-timestamp is more than ${tolerance} s in the future`);

  const expected = await hmac(secret, id, timestampS, body);
  let ok = false;
  for (const entry of sig.split(" ")) {
    const [version, b64] = entry.split(",", 2);
    if (version !== "v1" || !b64) continue;
    let candidate: Uint8Array | undefined;
    try {
      candidate = fromBase64(b64);
    } catch {}
    // Same-length comparison even for a malformed entry, and no early exit: the time taken
    // does not tell which entry (or how much of it) matched.
    const sameLength = candidate?.length === expected.length;
    const equal = equalBytes(expected, sameLength && candidate ? candidate : new Uint8Array(expected.length));
    ok = (equal && sameLength) || ok;
  }
  if (!ok) throw refuse("no v1 signature in webhook-signature matches this secret");
  return { id, timestampS };
}
