/**
 * SSRF guard for every URL the edge fetches on a user's behalf (webhook receivers, input image
 * URLs): https only, no credentials, no address but public unicast (ipaddr.js's classifier of the
 * IANA special-purpose registries, not a hand-made list), no local or metadata name.
 * `allowLocal` (local stack and tests) also admits http, but only to loopback.
 *
 * Workers have no DNS API. With SSRF_DOH_URL set, names are resolved over DNS-over-HTTPS and
 * refused when any answer is private (fail closed). Without it no lookup is made: Cloudflare's
 * egress cannot reach private networks anyway. Either way the fetch resolves again on its own,
 * so the lookup narrows DNS rebinding but cannot close it; the egress is the real boundary.
 */
import ipaddr from "ipaddr.js";
import { Problem } from "../../shared/problems.ts";

const refuse = (detail: string, host: string | null) => new Problem("unsafe-url", detail, { url_host: host });

/**
 * An IP address as text (IPv4 dotted decimal, IPv6 with or without brackets and zone id), or
 * undefined when it is not one. Strict on IPv4: the WHATWG parser has already turned `0x7f.1`
 * and `2130706433` into dotted decimal, and DoH answers are canonical.
 */
function parseAddress(ip: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  const s = ip.startsWith("[") && ip.endsWith("]") ? ip.slice(1, -1) : ip;
  if (ipaddr.IPv4.isValidFourPartDecimal(s)) return ipaddr.IPv4.parse(s);
  if (s.includes(":") && ipaddr.IPv6.isValid(s)) return ipaddr.IPv6.parse(s);
  return undefined;
}

/** 64:ff9b::/96 (RFC 6052's well-known NAT64 prefix): the IPv4 address in its last 32 bits. */
const NAT64 = ipaddr.IPv6.parse("64:ff9b::");
/** ::ffff:0:0:0/96 (RFC 6145's IPv4-translated form; ipaddr.js calls it rfc6145). */
const TRANSLATED = ipaddr.IPv6.parse("::ffff:0:0:0");
/** 2000::/3: the only IPv6 space IANA allocates as global unicast; the rest is reserved or special. */
const GLOBAL_UNICAST = ipaddr.IPv6.parse("2000::");

const embeddedV4 = (a: ipaddr.IPv6) => {
  const p = a.parts;
  return new ipaddr.IPv4([p[6] >> 8, p[6] & 0xff, p[7] >> 8, p[7] & 0xff]);
};

/**
 * The address to classify: an IPv6 address that carries an IPv4 one a packet would reach
 * (IPv4-mapped ::ffff:0:0/96, IPv4-translated ::ffff:0:0:0/96, NAT64 64:ff9b::/96) is that IPv4
 * address. Other embedding forms (6to4, Teredo, the local NAT64 prefix 64:ff9b:1::/48,
 * IPv4-compatible ::/96) are special-purpose ranges of their own and stay IPv6, to be refused.
 */
function normalised(a: ipaddr.IPv4 | ipaddr.IPv6): ipaddr.IPv4 | ipaddr.IPv6 {
  if (a.kind() === "ipv4") return a;
  const v6 = a as ipaddr.IPv6;
  if (v6.isIPv4MappedAddress() || v6.match(TRANSLATED, 96) || v6.match(NAT64, 96)) return embeddedV4(v6);
  return v6;
}

/**
 * Why `ip` must not be fetched, or undefined for a public unicast address. The classifier is
 * ipaddr.js's range(), which follows the IANA IPv4 and IPv6 special-purpose registries: only
 * `unicast` passes, after normalising embedded IPv4 (above); IPv6 must also be inside 2000::/3.
 * Text that is not an IP address is refused too: callers feed DNS answers here, and an answer
 * we cannot read is one we cannot vouch for.
 */
export function addressRefusal(ip: string): string | undefined {
  const parsed = parseAddress(ip);
  if (!parsed) return "not an IP address";
  const a = normalised(parsed);
  const range = a.range();
  const via = a === parsed ? "" : ` (embedded in ${parsed.toString()})`;
  if (range !== "unicast") return `${a.toString()}${via} is in a private or special-purpose range (${range})`;
  if (a.kind() === "ipv6" && !(a as ipaddr.IPv6).match(GLOBAL_UNICAST, 3))
    return `${a.toString()} is outside 2000::/3, the global unicast space (reserved)`;
  return undefined;
}

/** Whether an IP address (IPv4 dotted, IPv6 with or without brackets) must not be fetched. */
export const isPrivateAddress = (ip: string): boolean => addressRefusal(ip) !== undefined;

/** 127.0.0.0/8 or ::1 as written: `allowLocal` opens no embedded form. */
function isLoopbackAddress(ip: string): boolean {
  return parseAddress(ip)?.range() === "loopback";
}

const isIpLiteral = (host: string) => ipaddr.IPv4.isValidFourPartDecimal(host) || host.startsWith("[");
/** The name without the root dot: `localhost.` is `localhost`. */
const bareName = (host: string) => host.toLowerCase().replace(/\.$/, "");
const isLocalhostName = (name: string) => name === "localhost" || name.endsWith(".localhost");

function privateName(name: string): string | undefined {
  if (isLocalhostName(name)) return "localhost names are local";
  if (name.endsWith(".local")) return "mDNS (.local) names are local";
  if (name.endsWith(".internal") || name === "internal") return ".internal names (cloud metadata, VPC) are private";
  if (name.endsWith(".home.arpa")) return "home.arpa names are local";
  if (!name.includes(".")) return "single-label host names resolve inside private networks";
  return undefined;
}

/** Loopback only: the one kind of host `allowLocal` opens (http too). */
const isLoopbackHost = (host: string) => (isIpLiteral(host) ? isLoopbackAddress(host) : isLocalhostName(bareName(host)));

/**
 * Parses `raw` and refuses it (422 unsafe-url, `url_host` extension) unless it is safe to
 * fetch on a user's behalf. The WHATWG parser has already normalised numeric hosts
 * (`http://2130706433/`, `0x7f.1`) to dotted IPv4 and IPv6 to its compressed form.
 */
export function assertSafeUrl(raw: string, opts: { allowLocal: boolean }): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw refuse("not an absolute URL", null);
  }
  const host = url.hostname;
  const local = opts.allowLocal && isLoopbackHost(host);
  if (url.protocol === "http:") {
    if (!local)
      throw refuse(opts.allowLocal ? "http is only allowed to loopback; use https" : "only https URLs are fetched", host);
  } else if (url.protocol !== "https:") throw refuse(`scheme ${url.protocol} is not fetched; use https`, host);
  if (url.username || url.password) throw refuse("URLs with credentials (user:password@) are refused", host);
  if (!host) throw refuse("URL has no host", host);
  if (local) return url;
  if (isIpLiteral(host)) {
    const why = addressRefusal(host);
    if (why) throw refuse(`${host} is not a public unicast address (private, reserved or special-purpose): ${why}`, host);
    return url;
  }
  const why = privateName(bareName(host));
  if (why) throw refuse(why, host);
  return url;
}

interface DohAnswer {
  type: number;
  data: string;
}
const DNS_A = 1;
const DNS_AAAA = 28;
const DOH_TIMEOUT_MS = 5000;

async function dohLookup(doh: string, name: string, type: "A" | "AAAA"): Promise<{ status: number; answers: DohAnswer[] }> {
  const u = new URL(doh);
  u.searchParams.set("name", name);
  u.searchParams.set("type", type);
  const res = await fetch(u, { headers: { accept: "application/dns-json" }, signal: AbortSignal.timeout(DOH_TIMEOUT_MS) });
  if (!res.ok) throw new Error(`DoH answered HTTP ${res.status}`);
  const doc = (await res.json()) as { Status?: unknown; Answer?: unknown };
  if (typeof doc.Status !== "number") throw new Error("DoH answer has no Status");
  const answers = Array.isArray(doc.Answer) ? (doc.Answer as DohAnswer[]) : [];
  return { status: doc.Status, answers };
}

/**
 * Resolves `url`'s host over DoH (when `SSRF_DOH_URL` is set) and refuses it if any A/AAAA
 * answer is private, if it does not resolve, or if the lookup fails (fail closed).
 * IP literals (already checked by assertSafeUrl) and, with allowLocal, loopback names skip it.
 */
export async function assertSafeResolved(url: URL, env: { SSRF_DOH_URL?: string }, allowLocal: boolean): Promise<void> {
  const doh = env.SSRF_DOH_URL;
  const host = url.hostname;
  if (!doh || isIpLiteral(host) || (allowLocal && isLoopbackHost(host))) return;
  const name = bareName(host);
  let results: { status: number; answers: DohAnswer[] }[];
  try {
    results = await Promise.all([dohLookup(doh, name, "A"), dohLookup(doh, name, "AAAA")]);
  } catch (e) {
    throw refuse(`could not resolve ${name} to check its addresses (${(e as Error).message ?? e})`, host);
  }
  const failed = results.find((r) => r.status !== 0);
  if (failed) throw refuse(`${name} does not resolve (DNS status ${failed.status})`, host);
  const addresses = results.flatMap((r) => r.answers).filter((a) => a.type === DNS_A || a.type === DNS_AAAA);
  if (addresses.length === 0) throw refuse(`${name} has no A or AAAA record`, host);
  for (const a of addresses) {
    const why = typeof a.data === "string" ? addressRefusal(a.data) : "not an IP address";
    if (why) throw refuse(`${name} resolves to ${a.data}, not a public unicast address: ${why}`, host);
  }
}

/**
 * fetch() for user-supplied URLs: the checks above, no redirect following (a 3xx comes back to
 * the caller, whose next URL would need checking again) and a timeout. Network errors and the
 * timeout become 422 fetch-failed.
 */
export async function safeFetch(
  url: string,
  init: RequestInit & { timeoutMs: number },
  env: { SSRF_DOH_URL?: string },
  allowLocal: boolean,
): Promise<Response> {
  const checked = assertSafeUrl(url, { allowLocal });
  await assertSafeResolved(checked, env, allowLocal);
  const { timeoutMs, signal, ...rest } = init;
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    return await fetch(checked, { ...rest, redirect: "manual", signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
  } catch (e) {
    const why = timeout.aborted ? `no response within ${timeoutMs} ms` : String((e as Error).message ?? e);
    throw new Problem("fetch-failed", `fetching ${checked.host} failed: ${why}`, { url_host: checked.hostname });
  }
}
