/**
 * SSRF guard for every URL the edge fetches on a user's behalf (webhook receivers, input image
 * URLs): https only, no credentials, no private/loopback/link-local/metadata address or name.
 * `allowLocal` (local stack and tests) also admits http, but only to loopback.
 *
 * Workers have no DNS API. With SSRF_DOH_URL set, names are resolved over DNS-over-HTTPS and
 * refused when any answer is private (fail closed). Without it no lookup is made: Cloudflare's
 * egress cannot reach private networks anyway. Either way the fetch resolves again on its own,
 * so the lookup narrows DNS rebinding but cannot close it; the egress is the real boundary.
 */
import { Problem } from "../../shared/problems.ts";

const refuse = (detail: string, host: string | null) => new Problem("unsafe-url", detail, { url_host: host });

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function parseIpv4(ip: string): number[] | undefined {
  const m = IPV4.exec(ip);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  return parts.every((p) => p <= 255) ? parts : undefined;
}

/** Eight 16-bit groups, or undefined when `ip` is not IPv6 text (brackets allowed). */
function parseIpv6(ip: string): number[] | undefined {
  let s = ip.startsWith("[") && ip.endsWith("]") ? ip.slice(1, -1) : ip;
  s = s.split("%")[0]; // zone id
  if (!s.includes(":")) return undefined;
  // A trailing dotted IPv4 (::ffff:1.2.3.4) becomes two groups.
  const v4 = /(?:^|:)(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/.exec(s);
  if (v4) {
    const b = parseIpv4(v4[1]);
    if (!b) return undefined;
    s = `${s.slice(0, s.length - v4[1].length)}${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
  }
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const groups = (h: string) => (h === "" ? [] : h.split(":"));
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  const fill = 8 - head.length - tail.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return undefined;
  const all = [...head, ...Array(fill).fill("0"), ...tail];
  if (!all.every((g) => /^[0-9a-f]{1,4}$/i.test(g))) return undefined;
  return all.map((g) => Number.parseInt(g, 16));
}

const inV4 = (b: number[], net: [number, number, number, number], bits: number) => {
  const addr = ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
  const base = ((net[0] << 24) | (net[1] << 16) | (net[2] << 8) | net[3]) >>> 0;
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return (addr & mask) >>> 0 === (base & mask) >>> 0;
};

const PRIVATE_V4: [[number, number, number, number], number][] = [
  [[0, 0, 0, 0], 8], // "this network"
  [[10, 0, 0, 0], 8],
  [[100, 64, 0, 0], 10], // carrier-grade NAT
  [[127, 0, 0, 0], 8],
  [[169, 254, 0, 0], 16], // link-local, cloud metadata (169.254.169.254)
  [[172, 16, 0, 0], 12],
  [[192, 0, 0, 0], 24], // IETF protocol assignments
  [[192, 168, 0, 0], 16],
  [[198, 18, 0, 0], 15], // benchmarking
  [[224, 0, 0, 0], 4], // multicast
  [[240, 0, 0, 0], 4], // reserved, broadcast
];

const v4Private = (b: number[]) => PRIVATE_V4.some(([net, bits]) => inV4(b, net, bits));
const v4FromGroups = (hi: number, lo: number) => [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff];

function v6Private(g: number[]): boolean {
  const zero = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  // ::/96 (unspecified, ::1, deprecated IPv4-compatible), ::ffff:0:0/96 (IPv4-mapped) and the
  // NAT64 prefixes 64:ff9b::/96 and 64:ff9b:1::/48 reach the embedded IPv4 address.
  if (zero(0, 6) || (zero(0, 5) && g[5] === 0xffff)) return v4Private(v4FromGroups(g[6], g[7]));
  if (g[0] === 0x64 && g[1] === 0xff9b && (zero(2, 6) || g[2] === 1)) return v4Private(v4FromGroups(g[6], g[7]));
  if (g[0] === 0x2002) return v4Private(v4FromGroups(g[1], g[2])); // 6to4 embeds one too
  if ((g[0] & 0xfe00) === 0xfc00) return true; // fc00::/7 unique local
  if ((g[0] & 0xff80) === 0xfe80) return true; // fe80::/10 link-local, fec0::/10 site-local
  if ((g[0] & 0xff00) === 0xff00) return true; // multicast
  return false;
}

/**
 * Whether an IP address (IPv4 dotted, IPv6 with or without brackets) must not be fetched.
 * Text that is not an IP address counts as private: callers feed DNS answers here, and an
 * answer we cannot read is one we cannot vouch for.
 */
export function isPrivateAddress(ip: string): boolean {
  const v4 = parseIpv4(ip);
  if (v4) return v4Private(v4);
  const v6 = parseIpv6(ip);
  return v6 ? v6Private(v6) : true;
}

function isLoopbackAddress(ip: string): boolean {
  const v4 = parseIpv4(ip);
  if (v4) return v4[0] === 127;
  const v6 = parseIpv6(ip);
  return !!v6 && v6.slice(0, 7).every((x) => x === 0) && v6[7] === 1;
}

const isIpLiteral = (host: string) => parseIpv4(host) !== undefined || host.startsWith("[");
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
    if (isPrivateAddress(host)) throw refuse(`${host} is a private, loopback, link-local or reserved address`, host);
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
  const bad = addresses.find((a) => typeof a.data !== "string" || isPrivateAddress(a.data));
  if (bad) throw refuse(`${name} resolves to ${bad.data}, a private, loopback or reserved address`, host);
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
