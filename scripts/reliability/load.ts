/**
 * Phase 4 of `npm run reliability`: load against the local stack with Debian's `wrk`: p50, p99
 * and req/s for cache hits and for small misses (each request a new cache key: a real GPU call)
 * at concurrency 1, 8 and 32; 429 exactly at a key's limit; and a soak (mixed hits and misses)
 * that samples the RSS of workerd, wrangler and the GPU server every 10 s.
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeImage } from "../../gpu-jobs/codecs.ts";
import { newImage } from "../../shared/imaging/types.ts";
import { freePort, ROOT, type Stack } from "../stack.ts";
import { newAccount, send, sleep } from "./http.ts";

export interface LoadRun {
  kind: "cache hits" | "misses";
  concurrency: number;
  requests: number;
  p50: string;
  p99: string;
  rps: number;
  non2xx: number;
  /** The answers that were not 2xx, by status. */
  codes: Record<string, number>;
}

export interface LoadResult {
  runs: LoadRun[];
  rateLimit: { limit: number; sent: number; ok: number; first429: number };
}

export interface SoakResult {
  seconds: number;
  missConnections: number;
  requests: number;
  non2xx: number;
  /** GET /healthz every 2 s during the soak: answered (200), asked, slowest. */
  healthz: { ok: number; asked: number; maxMs: number };
  processes: { name: string; startMb: number; endMb: number; maxMb: number; growthMb: number; samples: number[] }[];
}

function wrkAvailable(): void {
  try {
    execFileSync("wrk", ["--version"], { stdio: "ignore" });
  } catch (e) {
    // wrk prints its usage with exit status 1; only a missing binary throws ENOENT.
    if ((e as NodeJS.ErrnoException).code === "ENOENT") throw new Error("wrk is missing: apt-get install -y wrk");
  }
}

/** The multipart body around the varying number, and its content type. */
async function bodies(dir: string) {
  const img = newImage(48, 36);
  for (let i = 0; i < 48 * 36; i++) img.data.set([(i * 5) % 256, (i * 11) % 256, 90, 255], i * 4);
  const png = await encodeImage(img, "png");
  const boundary = "wrkboundary7d3";
  const head = Buffer.concat([
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="i.png"\r\nContent-Type: image/png\r\n\r\n`,
    ),
    Buffer.from(png),
    Buffer.from(
      `\r\n--${boundary}\r\nContent-Disposition: form-data; name="mask_shapes"\r\n\r\n{"shapes":[{"type":"rect","x":10.`,
    ),
  ]);
  const tail = Buffer.from(`,"y":8,"width":8,"height":7}]}\r\n--${boundary}--\r\n`);
  writeFileSync(join(dir, "head.bin"), head);
  writeFileSync(join(dir, "tail.bin"), tail);
  return { type: `multipart/form-data; boundary=${boundary}` };
}

let runs = 0;

/** A wrk script: the same request (hits), or a new rectangle position each time (misses, unique across runs). */
function script(dir: string, kind: LoadRun["kind"], auth: string, type: string): string {
  const run = ++runs;
  const file = join(dir, `${kind === "misses" ? "miss" : "hit"}-${run}.lua`);
  writeFileSync(
    file,
    `local function slurp(p) local f = assert(io.open(p, "rb")); local s = f:read("*a"); f:close(); return s end
local head = slurp("${join(dir, "head.bin")}")
local tail = slurp("${join(dir, "tail.bin")}")
local headers = { ["Authorization"] = "${auth}", ["Content-Type"] = "${type}" }
local n = 0
local tid = 0
local created = 0
local threads = {}
codes = ""
function setup(thread) created = created + 1; thread:set("tid", created); table.insert(threads, thread) end
function init(args) tid = tonumber(wrk.thread:get("tid")) or 0 end
function response(status, headers, body) if status >= 300 then codes = codes .. status .. " " end end
function done(summary, latency, requests)
  local all = ""
  for _, t in ipairs(threads) do all = all .. (t:get("codes") or "") end
  io.write("Statuses not 2xx: " .. all .. "\\n")
end
function request()
  n = n + 1
  local v = ${kind === "misses" ? `string.format("%d%d%07d", ${run}, tid, n)` : `"5"`}
  return wrk.format("POST", "/v1/inpaint", headers, head .. v .. tail)
end
`,
  );
  return file;
}

const unitMs = (v: string): number => {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(v);
  if (!m) return Number.NaN;
  const n = Number(m[1]);
  return m[2] === "us" ? n / 1000 : m[2] === "ms" ? n : m[2] === "s" ? n * 1000 : n * 60_000;
};
const fmt = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 1 : 0)} ms`);

function parseWrk(out: string) {
  const pct = (p: string) => fmt(unitMs((new RegExp(`^\\s*${p}%\\s+(\\S+)`, "m").exec(out) ?? [])[1] ?? ""));
  const requests = Number((/(\d+) requests in/.exec(out) ?? [])[1] ?? 0);
  const rps = Number((/Requests\/sec:\s+([\d.]+)/.exec(out) ?? [])[1] ?? 0);
  const non2xx = Number((/Non-2xx or 3xx responses: (\d+)/.exec(out) ?? [])[1] ?? 0);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = errors ? errors.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  const codes: Record<string, number> = {};
  for (const c of ((/Statuses not 2xx: (.*)/.exec(out) ?? [])[1] ?? "").split(" ").filter(Boolean))
    codes[c] = (codes[c] ?? 0) + 1;
  if (socketErrors) codes["socket error"] = socketErrors;
  return { p50: pct("50"), p99: pct("99"), requests, rps, non2xx: non2xx + socketErrors, codes };
}

function wrk(url: string, file: string, concurrency: number, seconds: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(
      "wrk",
      [
        "-t",
        String(Math.min(2, concurrency)),
        "-c",
        String(concurrency),
        "-d",
        `${seconds}s`,
        "--timeout",
        "120s",
        "--latency",
        "-s",
        file,
        url,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let out = "";
    p.stdout.on("data", (c: Buffer) => {
      out += c.toString();
    });
    p.on("error", reject);
    p.on("exit", () => resolve(out));
  });
}

export async function runLoad(o: { stack: Stack; quick: boolean; log: (s: string) => void }): Promise<LoadResult> {
  wrkAvailable();
  const dir = mkdtempSync(join(tmpdir(), "gmcnn-wrk-"));
  const { type } = await bodies(dir);
  const auth = `Bearer ${o.stack.apiKey}`;
  const seconds = o.quick ? 4 : 15;
  const runs: LoadRun[] = [];
  for (const kind of ["cache hits", "misses"] as const) {
    if (kind === "cache hits") await wrk(o.stack.edgeUrl, script(dir, kind, auth, type), 1, 1); // the one miss that fills the cache
    for (const concurrency of [1, 8, 32]) {
      const out = await wrk(o.stack.edgeUrl, script(dir, kind, auth, type), concurrency, seconds);
      const r = { kind, concurrency, ...parseWrk(out) };
      runs.push(r);
      o.log(
        `load ${kind} c=${concurrency}: p50 ${r.p50}, p99 ${r.p99}, ${r.rps} req/s, ${r.requests} requests, non-2xx ${JSON.stringify(r.codes)}`,
      );
    }
  }

  // 429 at exactly the key's limit: an account whose keys may make `limit` requests a window.
  const limit = 20;
  const account = await newAccount(o.stack.edgeUrl, o.stack.adminToken, "reliability-rate-limit", 1, { rate_limit: limit });
  let ok = 0;
  let first429 = 0;
  const sent = limit + 5;
  for (let i = 1; i <= sent; i++) {
    const a = await send(`${o.stack.edgeUrl}/v1/usage`, { headers: account.auth });
    if (a.status === 200) ok++;
    if (a.status === 429 && first429 === 0) first429 = i;
  }
  o.log(`rate limit ${limit}: ${ok} x 200, first 429 at request ${first429}`);
  return { runs, rateLimit: { limit, sent, ok, first429 } };
}

/** Processes under this one (the stack's wrangler and workerd, the GPU server), by name. */
function descendants(): { pid: number; name: string }[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      /* gone */
    }
  }
  const mine = (pid: number): boolean => {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) if (p === process.pid) return true;
    return false;
  };
  const out: { pid: number; name: string }[] = [];
  for (const pid of parent.keys()) {
    if (!mine(pid)) continue;
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
      const name = /workerd/.test(cmd)
        ? "workerd (edge)"
        : /gpu-jobs\/server\/main\.ts/.test(cmd)
          ? "GPU function server"
          : /wrangler/.test(cmd) && / dev /.test(cmd)
            ? "wrangler dev"
            : "";
      if (name) out.push({ pid, name });
    } catch {
      /* gone */
    }
  }
  return out;
}

const rssMb = (pid: number): number => {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
};

export async function runSoak(o: {
  stack: Stack;
  seconds: number;
  /** Connections sending misses beside the 4 sending hits (0: hits only, to tell growth apart). */
  missConnections: number;
  log: (s: string) => void;
}): Promise<SoakResult> {
  wrkAvailable();
  const dir = mkdtempSync(join(tmpdir(), "gmcnn-soak-"));
  const { type } = await bodies(dir);
  const auth = `Bearer ${o.stack.apiKey}`;
  const samples = new Map<string, number[]>();
  const sample = () => {
    const byName = new Map<string, number>();
    for (const p of descendants()) byName.set(p.name, (byName.get(p.name) ?? 0) + rssMb(p.pid));
    for (const [name, mb] of byName) samples.set(name, [...(samples.get(name) ?? []), mb]);
  };
  sample();
  const hits = wrk(o.stack.edgeUrl, script(dir, "cache hits", auth, type), 4, o.seconds);
  const misses =
    o.missConnections > 0
      ? wrk(o.stack.edgeUrl, script(dir, "misses", auth, type), o.missConnections, o.seconds)
      : Promise.resolve("");
  const started = Date.now();
  const healthz = { ok: 0, asked: 0, maxMs: 0 };
  let nextSample = started + 10_000;
  while (Date.now() - started < o.seconds * 1000) {
    const h = await send(`${o.stack.edgeUrl}/healthz`, { timeoutMs: 5000 });
    healthz.asked++;
    if (h.status === 200) healthz.ok++;
    healthz.maxMs = Math.max(healthz.maxMs, h.ms);
    if (Date.now() >= nextSample) {
      sample();
      nextSample += 10_000;
    }
    await sleep(2000);
  }
  const [h, m] = (await Promise.all([hits, misses])).map(parseWrk);
  sample();
  const processes = [...samples.entries()].map(([name, s]) => ({
    name,
    startMb: s[0],
    endMb: s[s.length - 1],
    maxMb: Math.max(...s),
    growthMb: s[s.length - 1] - s[0],
    samples: s.map((x) => Math.round(x)),
  }));
  o.log(
    `soak: ${h.requests + m.requests} requests, ${h.non2xx + m.non2xx} non-2xx; ${processes.map((p) => `${p.name} ${p.startMb.toFixed(0)}->${p.endMb.toFixed(0)} MB`).join(", ")}`,
  );
  return {
    seconds: o.seconds,
    missConnections: o.missConnections,
    requests: h.requests + m.requests,
    non2xx: h.non2xx + m.non2xx,
    healthz,
    processes,
  };
}

export interface ControlResult {
  requests: number;
  startMb: number;
  endMb: number;
  kbPerRequest: number;
}

/**
 * The same wrk load on a one-line Worker under the same `wrangler dev`: how much workerd's RSS
 * grows per request when nothing of ours runs. Set beside the soak, it tells the local runtime's
 * growth from the edge's own.
 */
export async function runControl(o: { seconds: number; log: (s: string) => void }): Promise<ControlResult> {
  const dir = mkdtempSync(join(tmpdir(), "gmcnn-control-"));
  writeFileSync(join(dir, "index.js"), 'export default { fetch: () => new Response("{\\"ok\\":true}") };\n');
  writeFileSync(join(dir, "wrangler.toml"), 'name = "control"\nmain = "index.js"\ncompatibility_date = "2026-04-20"\n');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const p = spawn(
    process.execPath,
    [
      join(ROOT, "node_modules/wrangler/bin/wrangler.js"),
      "dev",
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--inspector-port",
      String(await freePort()),
      "--show-interactive-dev-session=false",
    ],
    { cwd: dir, detached: true, stdio: "ignore", env: { ...process.env, WRANGLER_SEND_METRICS: "false" } },
  );
  try {
    for (let i = 0; i < 120 && (await send(`${url}/`, { timeoutMs: 2000 })).status !== 200; i++) await sleep(500);
    const workerd = () => descendants().filter((d) => d.name === "workerd (edge)");
    const rss = () => workerd().reduce((a, d) => a + rssMb(d.pid), 0);
    const startMb = rss();
    const out = await new Promise<string>((resolve) => {
      const w = spawn("wrk", ["-t", "2", "-c", "4", "-d", `${o.seconds}s`, url], { stdio: ["ignore", "pipe", "inherit"] });
      let text = "";
      w.stdout.on("data", (c: Buffer) => {
        text += c.toString();
      });
      w.on("exit", () => resolve(text));
    });
    const endMb = rss();
    const requests = parseWrk(out).requests;
    const r = { requests, startMb, endMb, kbPerRequest: ((endMb - startMb) * 1024) / Math.max(1, requests) };
    o.log(`control (one-line Worker): ${requests} requests, workerd ${startMb.toFixed(0)} -> ${endMb.toFixed(0)} MB`);
    return r;
  } finally {
    try {
      process.kill(-(p.pid as number), "SIGKILL");
    } catch {
      /* gone */
    }
  }
}
