/** HMAC and digests for webhook sources (WebCrypto: the same in a Worker and in Node). */
import { Problem } from "../../problems.ts";

const enc = new TextEncoder();

export const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

export async function hmacHex(hash: "SHA-256" | "SHA-1", secret: string, message: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash }, false, ["sign"]);
  return hex(new Uint8Array(await crypto.subtle.sign("HMAC", key, enc.encode(message))));
}

export async function digestHex(hash: "SHA-256" | "SHA-1", message: string): Promise<string> {
  return hex(new Uint8Array(await crypto.subtle.digest(hash, enc.encode(message))));
}

/** Equal strings, compared without an early exit (the time taken does not tell how much matched). */
export function equalText(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) diff |= (a.charCodeAt(i) || 0) ^ (b.charCodeAt(i) || 0);
  return diff === 0;
}

export const refuse = (detail: string) => new Problem("invalid-signature", detail);

/** 32 random bytes as hex: a secret for senders that take one we issue. */
export const randomHexSecret = (): string => hex(crypto.getRandomValues(new Uint8Array(32)));
