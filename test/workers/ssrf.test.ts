/**
 * The SSRF guard (workers/webhooks/ssrf.ts) against the IANA IPv4 and IPv6 special-purpose
 * address registries (and the multicast and reserved space around them): every block's first and
 * last address is refused, whether written plainly or embedded in IPv6 (mapped, translated,
 * NAT64), and the public unicast addresses next to them are not. Issue #20, item 6: the
 * addresses the hand-made list missed.
 */
import { describe, expect, it } from "vitest";
import { addressRefusal, assertSafeUrl, isPrivateAddress } from "../../workers/webhooks/ssrf.ts";
import { expectProblem } from "./footprint.ts";
import { call, newAccount } from "./helpers.ts";

/** What the third probe found passing the old guard (issue #20, item 6). */
const MISSED = [
  "[2001:2::1]", // benchmarking (its IPv4 twin 198.18.0.0/15 was refused)
  "[3fff::1]", // documentation, RFC 9637
  "[2001:20::1]", // ORCHIDv2
  "[5f00::1]", // SRv6 SIDs
  "192.88.99.1", // deprecated 6to4 relay anycast
  "[::ffff:0:a9fe:a9fe]", // IPv4-translated 169.254.169.254
  "[2001::1]", // Teredo
  "198.51.100.1", // documentation (TEST-NET-2)
  // The rest of docs/reliability.md's list of issue #10.
  "[::ffff:0:127.0.0.1]",
  "[::ffff:0:7f00:1]",
  "[2001:0:4136:e378:8000:63bf:80ff:fffe]",
  "192.0.2.1",
  "203.0.113.1",
  "[2001:db8::1]",
  "[100::1]",
];

/** IANA IPv4 Special-Purpose Address Registry, plus multicast (224.0.0.0/4): first and last address of each block. */
const IANA_V4: [string, string, string][] = [
  ["0.0.0.0/8", "0.0.0.0", "0.255.255.255"],
  ["10.0.0.0/8", "10.0.0.0", "10.255.255.255"],
  ["100.64.0.0/10", "100.64.0.0", "100.127.255.255"],
  ["127.0.0.0/8", "127.0.0.0", "127.255.255.255"],
  ["169.254.0.0/16", "169.254.0.0", "169.254.255.255"],
  ["172.16.0.0/12", "172.16.0.0", "172.31.255.255"],
  ["192.0.0.0/24", "192.0.0.0", "192.0.0.255"], // incl. /29 continuity, .8 dummy, .9 PCP, .10 TURN, .170/.171 NAT64 discovery
  ["192.0.2.0/24", "192.0.2.0", "192.0.2.255"],
  ["192.31.196.0/24", "192.31.196.0", "192.31.196.255"],
  ["192.52.193.0/24", "192.52.193.0", "192.52.193.255"],
  ["192.88.99.0/24", "192.88.99.0", "192.88.99.255"], // incl. 192.88.99.2 (6a44 relay)
  ["192.168.0.0/16", "192.168.0.0", "192.168.255.255"],
  ["192.175.48.0/24", "192.175.48.0", "192.175.48.255"],
  ["198.18.0.0/15", "198.18.0.0", "198.19.255.255"],
  ["198.51.100.0/24", "198.51.100.0", "198.51.100.255"],
  ["203.0.113.0/24", "203.0.113.0", "203.0.113.255"],
  ["224.0.0.0/4", "224.0.0.0", "239.255.255.255"],
  ["240.0.0.0/4", "240.0.0.0", "255.255.255.254"],
  ["255.255.255.255/32", "255.255.255.255", "255.255.255.255"],
];

/** IANA IPv6 Special-Purpose Address Registry, plus multicast, site-local and the space outside 2000::/3. */
const IANA_V6: [string, string, string][] = [
  ["::/128", "::", "::"],
  ["::1/128", "::1", "::1"],
  ["::ffff:0:0/96 (IPv4-mapped, private v4)", "::ffff:a00:0", "::ffff:c0a8:ffff"],
  ["::/96 (IPv4-compatible, deprecated)", "::808:808", "::ffff:ffff"],
  ["64:ff9b:1::/48 (local-use NAT64)", "64:ff9b:1::", "64:ff9b:1:ffff:ffff:ffff:ffff:ffff"],
  ["64:ff9b::/96 (NAT64 of a private v4)", "64:ff9b::a9fe:a9fe", "64:ff9b::7f00:1"],
  ["100::/64 (discard-only)", "100::", "100::ffff:ffff:ffff:ffff"],
  ["100:0:0:1::/64 (dummy prefix, RFC 9780)", "100:0:0:1::", "100:0:0:1:ffff:ffff:ffff:ffff"],
  ["2001::/23 (IETF protocol assignments)", "2001::", "2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff"],
  ["2001::/32 (Teredo)", "2001::1", "2001:0:ffff:ffff:ffff:ffff:ffff:ffff"],
  ["2001:1::1/128 (PCP anycast)", "2001:1::1", "2001:1::1"],
  ["2001:1::2/128 (TURN anycast)", "2001:1::2", "2001:1::2"],
  ["2001:1::3/128 (DNS-SD SRP anycast)", "2001:1::3", "2001:1::3"],
  ["2001:2::/48 (benchmarking)", "2001:2::", "2001:2:0:ffff:ffff:ffff:ffff:ffff"],
  ["2001:3::/32 (AMT)", "2001:3::", "2001:3:ffff:ffff:ffff:ffff:ffff:ffff"],
  ["2001:4:112::/48 (AS112-v6)", "2001:4:112::", "2001:4:112:ffff:ffff:ffff:ffff:ffff"],
  ["2001:10::/28 (deprecated ORCHID)", "2001:10::", "2001:1f:ffff:ffff:ffff:ffff:ffff:ffff"],
  ["2001:20::/28 (ORCHIDv2)", "2001:20::", "2001:2f:ffff:ffff:ffff:ffff:ffff:ffff"],
  ["2001:30::/28 (DETs)", "2001:30::", "2001:3f:ffff:ffff:ffff:ffff:ffff:ffff"],
  ["2001:db8::/32 (documentation)", "2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"],
  ["2002::/16 (6to4)", "2002::", "2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
  ["2620:4f:8000::/48 (AS112 direct delegation)", "2620:4f:8000::", "2620:4f:8000:ffff:ffff:ffff:ffff:ffff"],
  ["3fff::/20 (documentation, RFC 9637)", "3fff::", "3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff"],
  ["5f00::/16 (SRv6 SIDs)", "5f00::", "5f00:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
  ["fc00::/7 (unique local)", "fc00::", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
  ["fe80::/10 (link-local)", "fe80::", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
  ["fec0::/10 (site-local, deprecated)", "fec0::", "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
  ["ff00::/8 (multicast)", "ff00::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
  ["4000::/2 (unallocated)", "4000::1", "7fff::1"],
  ["8000::/1 (unallocated)", "8000::1", "fbff::1"],
];

/** Public unicast addresses, most of them just outside a special block: fetched (after DNS, if a name). */
const PUBLIC = [
  "1.1.1.1",
  "8.8.8.8",
  "93.184.216.34",
  "9.255.255.255",
  "11.0.0.0",
  "100.63.255.255",
  "100.128.0.0",
  "172.15.255.255",
  "172.32.0.0",
  "192.0.1.0",
  "192.0.3.0",
  "192.88.98.255",
  "192.88.100.0",
  "192.167.255.255",
  "192.169.0.0",
  "198.17.255.255",
  "198.20.0.0",
  "198.51.99.255",
  "223.255.255.255",
  "2606:4700:4700::1111",
  "2001:4860:4860::8888",
  "2001:200::1",
  "2620:4f:8001::1",
  "2a00:1450:4001::1",
  "3ffe::1",
  "3fff:1000::1",
  "::ffff:808:808", // IPv4-mapped 8.8.8.8
  "64:ff9b::808:808", // NAT64 of 8.8.8.8
];

describe("the SSRF classifier (ipaddr.js, IANA special-purpose registries)", () => {
  it.each(MISSED)("issue #20: https://%s/ is refused before any fetch", (host) => {
    expect(() => assertSafeUrl(`https://${host}/`, { allowLocal: false })).toThrow(
      expect.objectContaining({ kind: "unsafe-url", status: 422 }),
    );
    expect(() => assertSafeUrl(`http://${host}/`, { allowLocal: true })).toThrow(expect.objectContaining({ kind: "unsafe-url" }));
  });

  it.each(IANA_V4)("IPv4 %s: its first and last address are refused", (_, first, last) => {
    for (const ip of [first, last]) {
      expect(addressRefusal(ip), ip).toBeDefined();
      expect(() => assertSafeUrl(`https://${ip}/`, { allowLocal: false }), ip).toThrow(/public unicast/);
      // The same address inside IPv6: mapped, translated, NAT64.
      const [a, b, c, d] = ip.split(".").map(Number);
      const hi = ((a << 8) | b).toString(16);
      const lo = ((c << 8) | d).toString(16);
      for (const v6 of [`::ffff:${hi}:${lo}`, `::ffff:0:${hi}:${lo}`, `64:ff9b::${hi}:${lo}`, `::ffff:${ip}`]) {
        expect(isPrivateAddress(v6), v6).toBe(true);
        expect(() => assertSafeUrl(`https://[${v6}]/`, { allowLocal: false }), v6).toThrow(/public unicast/);
      }
    }
  });

  it.each(IANA_V6)("IPv6 %s: its first and last address are refused", (_, first, last) => {
    for (const ip of [first, last]) {
      expect(addressRefusal(ip), ip).toBeDefined();
      expect(isPrivateAddress(`[${ip}]`), ip).toBe(true);
      expect(() => assertSafeUrl(`https://[${ip}]/`, { allowLocal: false }), ip).toThrow(/public unicast/);
    }
  });

  it.each(PUBLIC)("public unicast %s is allowed", (ip) => {
    expect(addressRefusal(ip)).toBeUndefined();
    const host = ip.includes(":") ? `[${ip}]` : ip;
    expect(assertSafeUrl(`https://${host}/x`, { allowLocal: false }).pathname).toBe("/x");
  });

  it("says which range refused an address, and through which embedding", () => {
    expect(addressRefusal("198.51.100.1")).toMatch(/reserved/);
    expect(addressRefusal("::ffff:0:a9fe:a9fe")).toMatch(/169\.254\.169\.254 .*embedded.*linkLocal/);
    expect(addressRefusal("2001:2::1")).toMatch(/benchmarking/);
    expect(addressRefusal("5f00::1")).toMatch(/segmentRouting/);
    expect(addressRefusal("100:0:0:1::1")).toMatch(/2000::\/3/);
  });

  it("text that is not an address (a DNS answer we cannot read) is refused", () => {
    for (const t of ["", "not-an-ip", "1.2.3.256", "0x7f.0.0.1", "2130706433", "0177.0.0.1", "1.2.3", "::g", "1::2::3"])
      expect(isPrivateAddress(t), t).toBe(true);
  });
});

describe("issue #20: the addresses the old guard missed, on POST /v1/jobs", () => {
  it.each(MISSED.slice(0, 8))("%s as image_url, mask_url and webhook: 422 unsafe-url, no job", async (host) => {
    const a = await newAccount(5, "ssrf");
    const url = `https://${host}/x.png`;
    const tries = [
      { image_url: url, mask_shapes: { shapes: [] } },
      { image_url: "https://example.com/a.png", mask_url: url },
      { image_url: "https://example.com/a.png", mask_shapes: { shapes: [] }, webhook: url },
    ];
    for (const body of tries) {
      const res = await call("/v1/jobs", {
        method: "POST",
        headers: { ...a.headers, "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      await expectProblem(res, 422, "unsafe-url");
    }
    const list = await call("/v1/jobs", { headers: a.headers });
    expect(((await list.json()) as { jobs: unknown[] }).jobs).toEqual([]);
  });
});
