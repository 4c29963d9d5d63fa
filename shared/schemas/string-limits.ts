/** Zod-free, so that the SDK can export them without bundling zod. */

/**
 * Lengths of every string the service stores (issue 20, item 3): one table, so the edge, the
 * SDK (which re-exports it) and /openapi.json (maxLength) agree. A value over its bound is a
 * 422 `value-too-long` problem and nothing is stored.
 */
export const STRING_LIMITS = {
  /** Any URL we keep: webhook and callback URLs, input URLs (the de facto limit of browsers and CDNs). */
  url: 2048,
  /** An origin (scheme://host[:port]): a host name is at most 253 characters. */
  origin: 300,
  /** Names people give (accounts, integrations). */
  name: 200,
  /** Free text kept with a record (a ledger note). */
  note: 500,
  /** Idempotency-Key: 1 to 255 visible ASCII characters. */
  idempotencyKey: 255,
  /** Identifiers we did not mint (an account id in an admin body, a plugin name, an event type). */
  id: 128,
  /** A timestamp as text. */
  timestamp: 64,
} as const;

/**
 * Why `raw` is not an origin as a browser sends it (the WHATWG serialisation: scheme://host[:port],
 * lowercase, no default port, no path, query, fragment or userinfo), or null when it is one.
 */
export function originProblem(raw: string): string | null {
  if (raw.includes("*")) return "wildcards are not supported: mint one token per origin";
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)(.*)$/s.exec(raw);
  if (!m) return "an origin is scheme://host[:port]";
  const [, scheme, authority, rest] = m as unknown as [string, string, string, string];
  if (!/^https?$/i.test(scheme)) return `scheme ${scheme} is not http or https`;
  if (authority.includes("@")) return "an origin has no userinfo (user:password@)";
  if (rest.startsWith("?") || rest.includes("?")) return "an origin has no query (?...)";
  if (rest.includes("#")) return "an origin has no fragment (#...)";
  if (rest !== "") return "an origin has no path, not even /";
  const port = /:([^:\]]*)$/.exec(authority)?.[1];
  if (port !== undefined && (!/^\d{1,5}$/.test(port) || Number(port) > 65535))
    return `port ${JSON.stringify(port)} is not a number from 0 to 65535`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "the host is not a valid host name or address";
  }
  if (url.origin !== raw) return `write it as a browser sends it: ${url.origin}`;
  return null;
}
