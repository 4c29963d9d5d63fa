/**
 * Phase 5 of `npm run reliability`: SSRF. Every encoding of loopback, private, link-local,
 * metadata, NAT64, 6to4, Teredo and IPv4-mapped addresses, as image_url, mask_url and webhook of
 * POST /v1/jobs, against the production guard (WEBHOOK_ALLOW_LOCAL off). A TCP listener on
 * 127.0.0.1 and ::1 at the port every URL names counts the connections that arrive: the figure
 * is that count. Then, with the local switch on (`npm start`'s setting), redirects to private
 * addresses from an allowed receiver and input server: they must never be followed.
 */
import { createServer as createHttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createServer, type Server } from "node:net";
import { encodeImage } from "../../gpu-jobs/codecs.ts";
import { newImage } from "../../shared/imaging/types.ts";
import { json, newAccount, problemAgrees, send, sleep } from "./http.ts";

export interface SsrfResult {
  encodings: number;
  attempts: number;
  refused: number;
  notRefused: string[];
  reached: number;
  redirectsTried: number;
  redirectsFollowed: number;
}

/** Host spellings that all mean a private, local or special-purpose address. */
export function hostEncodings(): string[] {
  return [
    // IPv4 loopback, every way the URL parser accepts it.
    "127.0.0.1",
    "127.1",
    "127.0.1",
    "2130706433",
    "0x7f000001",
    "0x7f.0.0.1",
    "0177.0.0.1",
    "0177.0000.0000.0001",
    "127.000.000.001",
    "127.255.255.254",
    "0",
    "0.0.0.0",
    // Names.
    "localhost",
    "LOCALHOST",
    "localhost.",
    "sub.localhost",
    "printer.local",
    "metadata.google.internal",
    "metadata",
    "router.home.arpa",
    // IPv6 loopback and unspecified.
    "[::1]",
    "[0:0:0:0:0:0:0:1]",
    "[::]",
    "[::127.0.0.1]",
    // IPv4-mapped and IPv4-translated.
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[0:0:0:0:0:ffff:7f00:1]",
    "[::ffff:0:127.0.0.1]",
    "[::ffff:0:7f00:1]",
    "[::ffff:169.254.169.254]",
    "[::ffff:10.0.0.1]",
    // NAT64 (well-known and local-use prefixes), 6to4, Teredo.
    "[64:ff9b::127.0.0.1]",
    "[64:ff9b::7f00:1]",
    "[64:ff9b::a9fe:a9fe]",
    "[64:ff9b:1::7f00:1]",
    "[64:ff9b:1:7f00:1::]",
    "[64:ff9b:1::a9fe:a9fe]",
    "[2002:7f00:1::]",
    "[2002:a9fe:a9fe::1]",
    "[2002:c0a8:101::]",
    "[2001:0:4136:e378:8000:63bf:80ff:fffe]",
    "[2001::1]",
    // Private, shared, link-local, metadata and other special-purpose IPv4.
    "10.0.0.1",
    "10.255.255.255",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.1.1",
    "100.64.0.1",
    "169.254.169.254",
    "0xa9fea9fe",
    "2852039166",
    "0251.0376.0251.0376",
    "169.254.170.2",
    "192.0.0.1",
    "192.0.2.1",
    "198.18.0.1",
    "198.51.100.1",
    "203.0.113.1",
    "224.0.0.1",
    "255.255.255.255",
    "240.0.0.1",
    // Private and special-purpose IPv6.
    "[fc00::1]",
    "[fd00:ec2::254]",
    "[fe80::1]",
    "[fe80::1%25eth0]",
    "[fec0::1]",
    "[ff02::1]",
    "[100::1]",
    "[2001:db8::1]",
    // Issue #20: what the third probe found passing the hand-made list.
    "[2001:2::1]",
    "[3fff::1]",
    "[2001:20::1]",
    "[5f00::1]",
    "192.88.99.1",
    "[::ffff:0:a9fe:a9fe]",
    "[100:0:0:1::1]",
    "[2001:1::1]",
  ];
}

async function listener(): Promise<{ port: number; count: () => number; close: () => Promise<void> }> {
  let n = 0;
  const servers: Server[] = [];
  const v4 = createServer((s) => {
    n++;
    s.destroy();
  });
  await new Promise<void>((r) => v4.listen(0, "127.0.0.1", r));
  servers.push(v4);
  const port = (v4.address() as AddressInfo).port;
  const v6 = createServer((s) => {
    n++;
    s.destroy();
  });
  await new Promise<void>((r) => v6.once("error", () => r()).listen(port, "::1", r));
  servers.push(v6);
  return {
    port,
    count: () => n,
    close: async () => void (await Promise.all(servers.map((s) => new Promise((r) => s.close(r))))),
  };
}

export async function runSsrf(o: { edge: string; adminToken: string; log: (s: string) => void }): Promise<SsrfResult> {
  const victim = await listener();
  const account = await newAccount(o.edge, o.adminToken, "reliability-ssrf", 10);
  const img = newImage(16, 12);
  img.data.fill(255);
  const up = new FormData();
  up.append("file", new Blob([new Uint8Array(await encodeImage(img, "png"))]), "i.png");
  const uploaded = await send(`${o.edge}/v1/uploads`, { body: up, headers: account.auth });
  const imageId = String(json(uploaded).id);
  const shapes = { shapes: [{ type: "rect", x: 2, y: 2, width: 3, height: 3 }] };
  const hosts = hostEncodings();
  const result: SsrfResult = {
    encodings: hosts.length,
    attempts: 0,
    refused: 0,
    notRefused: [],
    reached: 0,
    redirectsTried: 0,
    redirectsFollowed: 0,
  };
  const urls = hosts.flatMap((h) => [
    `https://${h}:${victim.port}/x`,
    `http://${h}:${victim.port}/x`,
    `https://user:pw@${h}:${victim.port}/x`,
  ]);
  for (const url of urls)
    for (const field of ["image_url", "mask_url", "webhook"] as const) {
      const body =
        field === "image_url"
          ? { image_url: url, mask_shapes: shapes }
          : field === "mask_url"
            ? { image_id: imageId, mask_url: url }
            : { image_id: imageId, mask_shapes: shapes, webhook: url };
      const a = await send(`${o.edge}/v1/jobs`, {
        body: JSON.stringify(body),
        headers: { ...account.auth, "content-type": "application/json" },
      });
      result.attempts++;
      // Refused before any fetch: by the guard (422 unsafe-url) or as no URL at all (400); a
      // 422 fetch-failed means a fetch was tried, and a 2xx that the URL was accepted.
      const kind = String(json(a).type).replace(/^.*\//, "");
      if (problemAgrees(a) && ((a.status === 422 && kind === "unsafe-url") || a.status === 400)) result.refused++;
      else result.notRefused.push(`${field} ${url} -> ${a.status} ${a.body.toString("utf8").slice(0, 120)}`);
    }
  await sleep(2000); // anything in flight would have connected by now
  result.reached = victim.count();
  await victim.close();
  o.log(`SSRF: ${result.refused}/${result.attempts} refused; ${result.reached} connections reached the listener`);
  if (result.notRefused.length) o.log(`not refused:\n  ${result.notRefused.join("\n  ")}`);
  return result;
}

/**
 * With the local switch on: an input server and a webhook receiver on 127.0.0.1 (allowed) that
 * answer 30x to private addresses, and the loopback listener those redirects name. The edge must
 * not follow any (inputs: 422 fetch-failed; webhooks: a failed attempt, retried later).
 */
export async function runRedirects(o: {
  edge: string;
  adminToken: string;
  log: (s: string) => void;
}): Promise<{ tried: number; followed: number }> {
  const victim = await listener();
  const targets = [
    `http://127.0.0.1:${victim.port}/`,
    `http://[::1]:${victim.port}/`,
    `http://localhost:${victim.port}/`,
    `http://2130706433:${victim.port}/`,
    `http://[::ffff:127.0.0.1]:${victim.port}/`,
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/",
  ];
  let i = 0;
  const redirector = createHttpServer((req, res) => {
    req.resume();
    const status = [301, 302, 303, 307, 308][i % 5];
    res.writeHead(status, { location: targets[i++ % targets.length] }).end();
  });
  await new Promise<void>((r) => redirector.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${(redirector.address() as AddressInfo).port}`;
  const account = await newAccount(o.edge, o.adminToken, "reliability-redirects", 10);
  const img = newImage(16, 12);
  img.data.fill(255);
  const up = new FormData();
  up.append("file", new Blob([new Uint8Array(await encodeImage(img, "png"))]), "i.png");
  const imageId = String(json(await send(`${o.edge}/v1/uploads`, { body: up, headers: account.auth })).id);
  let tried = 0;
  for (let k = 0; k < targets.length * 2; k++) {
    const field = k % 2 ? "mask_url" : "image_url";
    const body =
      field === "image_url"
        ? { image_url: `${base}/i${k}`, mask_shapes: { shapes: [] } }
        : { image_id: imageId, mask_url: `${base}/m${k}` };
    await send(`${o.edge}/v1/jobs`, {
      body: JSON.stringify(body),
      headers: { ...account.auth, "content-type": "application/json" },
    });
    tried++;
  }
  // Webhooks: jobs that finish at once (an empty mask passes the image through) and whose
  // receiver redirects; their first attempts go out now.
  for (let k = 0; k < targets.length; k++) {
    await send(`${o.edge}/v1/jobs`, {
      body: JSON.stringify({ image_id: imageId, mask_shapes: { shapes: [] }, webhook: `${base}/hook${k}` }),
      headers: { ...account.auth, "content-type": "application/json" },
    });
    tried++;
  }
  await sleep(8000);
  const followed = victim.count();
  redirector.close();
  await victim.close();
  o.log(`redirects: ${tried} tried, ${followed} followed to the listener`);
  return { tried, followed };
}
