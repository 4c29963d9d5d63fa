/**
 * Phase 3 of `npm run reliability`: faults through the real stack, for synchronous calls and for
 * jobs. The GPU function (through ./gpu.ts's proxy) is killed mid-request, slow past the edge's
 * timeout, answers garbage, answers a region of the wrong size, or answers 503 for a while; the
 * webhook receiver fails the first k attempts of every delivery; the edge itself (the queue
 * consumer) is killed while jobs run and started again on the same storage. Figures: every sync
 * failure is a typed 5xx, uncharged; every accepted job reaches a final state; no job is charged
 * twice; no event is delivered (2xx) twice.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { encodeImage } from "../../gpu-jobs/codecs.ts";
import { newImage } from "../../shared/imaging/types.ts";
import { type Stack, startStack } from "../stack.ts";
import type { FaultMode, FaultProxy, GpuProcess } from "./gpu.ts";
import { d1File, json, newAccount, problemAgrees, send, sleep, sqlite } from "./http.ts";

export interface FaultsResult {
  sync: { mode: string; summary: string; good: boolean }[];
  syncSuccesses: number;
  syncCharges: number;
  jobsAccepted: number;
  jobsFinal: number;
  jobsSucceeded: number;
  jobsFailed: number;
  duplicateCharges: number;
  jobCredits: number;
  price: number;
  receiverFailures: number;
  eventsExpected: number;
  eventsDelivered: number;
  duplicateDeliveries: number;
  consumerSteps: { step: string; summary: string; good: boolean }[];
}

/** What the edge must answer while the GPU misbehaves so (problem types). */
const EXPECTED: Record<Exclude<FaultMode, "pass">, string[]> = {
  kill: ["gpu-unavailable"],
  slow: ["gpu-timeout"],
  garbage: ["gpu-bad-response"],
  "wrong-size": ["gpu-bad-response"],
  "503": ["gpu-busy", "gpu-unavailable"],
};

interface Receiver {
  url: string;
  /** Per webhook-id: attempts seen and 2xx answers given. */
  seen: Map<string, { attempts: number; ok: number; type: string; job: string }>;
  close(): Promise<void>;
}

/** A webhook receiver that answers 500 to the first `failures` attempts of each delivery. */
async function startReceiver(failures: number): Promise<Receiver> {
  const seen: Receiver["seen"] = new Map();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const id = String(req.headers["webhook-id"] ?? "");
      let body: { type?: string; data?: { id?: string } } = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        /* counted as an attempt anyway */
      }
      const s = seen.get(id) ?? { attempts: 0, ok: 0, type: String(body.type), job: String(body.data?.id) };
      s.attempts++;
      seen.set(id, s);
      if (s.attempts <= failures) return res.writeHead(500).end("not yet");
      s.ok++;
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    seen,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

export async function runFaults(o: {
  running: { stack: Stack; gpu?: GpuProcess; proxy?: FaultProxy; persist: string };
  log: (s: string) => void;
}): Promise<FaultsResult> {
  const { gpu, proxy, persist } = o.running;
  let stack = o.running.stack;
  if (!gpu || !proxy) throw new Error("the faults phase needs the GPU process and its proxy");
  const W = 48;
  const H = 36;
  const png = await encodeImage(
    (() => {
      const img = newImage(W, H);
      for (let i = 0; i < W * H; i++) img.data.set([(i * 7) % 256, (i * 3) % 256, 120, 255], i * 4);
      return img;
    })(),
    "png",
  );
  let unique = 0;
  /** A request no earlier one matches (cache keys differ by the rectangle's position). */
  const form = (extra: [string, string][] = []) => {
    unique++;
    const f = new FormData();
    f.append("image", new Blob([new Uint8Array(png)]), "i.png");
    f.append("mask_shapes", JSON.stringify({ shapes: [{ type: "rect", x: 10 + unique / 10_000, y: 8, width: 8, height: 7 }] }));
    for (const [k, v] of extra) f.append(k, v);
    return f;
  };
  const account = await newAccount(stack.edgeUrl, stack.adminToken, "reliability-faults", 100_000);
  const db = d1File(persist);
  const debits = () => Number(sqlite(db, "SELECT COUNT(*) FROM ledger WHERE account_id = ? AND delta < 0", [account.id])[0][0]);
  const result: FaultsResult = {
    sync: [],
    syncSuccesses: 0,
    syncCharges: 0,
    jobsAccepted: 0,
    jobsFinal: 0,
    jobsSucceeded: 0,
    jobsFailed: 0,
    duplicateCharges: 0,
    jobCredits: 0,
    price: 1,
    receiverFailures: 2,
    eventsExpected: 0,
    eventsDelivered: 0,
    duplicateDeliveries: 0,
    consumerSteps: [],
  };
  const healGpu = async () => {
    proxy.mode = "pass";
    if (
      !(await fetch(`${gpu.url}/readyz`)
        .then((r) => r.ok)
        .catch(() => false))
    )
      await gpu.restart();
  };

  // --- Synchronous calls.
  proxy.slowMs = 4500; // past GPU_TIMEOUT_MS=3000
  const debitsBefore = debits();
  const modes: Exclude<FaultMode, "pass">[] = ["kill", "slow", "garbage", "wrong-size", "503"];
  for (const mode of modes) {
    proxy.mode = mode;
    const answers: string[] = [];
    let good = true;
    for (let i = 0; i < 3; i++) {
      const a = await send(`${stack.edgeUrl}/v1/inpaint`, { body: form(), headers: account.auth });
      const kind = String(json(a).type ?? "").replace(/^.*\//, "");
      answers.push(`${a.status} ${kind}`);
      good &&= a.status >= 500 && problemAgrees(a) && EXPECTED[mode].includes(kind) && a.headers["x-credits-charged"] === "0";
      if (mode === "kill") await gpu.restart(); // each try kills a freshly started server
    }
    await healGpu();
    const counts: Record<string, number> = {};
    for (const x of answers) counts[x] = (counts[x] ?? 0) + 1;
    result.sync.push({
      mode,
      summary: `${Object.entries(counts)
        .map(([k, n]) => `${n} x ${k}`)
        .join(", ")}, 0 charged`,
      good,
    });
    o.log(`sync ${mode}: ${answers.join("; ")}`);
  }
  for (let i = 0; i < 5; i++) {
    const a = await send(`${stack.edgeUrl}/v1/inpaint`, { body: form(), headers: account.auth });
    if (a.status === 200) result.syncSuccesses++;
  }
  result.syncCharges = debits() - debitsBefore;
  result.sync.push({
    mode: "healed",
    summary: `${result.syncSuccesses}/5 x 200 after the faults`,
    good: result.syncSuccesses === 5,
  });

  // --- Jobs: submitted while each fault lasts, healed a few seconds later.
  const receiver = await startReceiver(result.receiverFailures);
  const jobIds: string[] = [];
  const submit = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const a = await send(`${stack.edgeUrl}/v1/jobs`, { body: form([["webhook", receiver.url]]), headers: account.auth });
      if (a.status === 202 || a.status === 200) jobIds.push(String(json(a).id));
      else o.log(`job submission answered ${a.status} ${a.body.toString("utf8").slice(0, 200)}`);
    }
  };
  for (const mode of modes) {
    proxy.mode = mode;
    await submit(3);
    await sleep(mode === "slow" ? 6000 : 2500);
    await healGpu();
    result.consumerSteps.push({ step: `GPU step: ${mode}, healed after a few seconds`, summary: "3 jobs", good: true });
  }
  // The consumer (the edge) killed while jobs run, then started again on the same storage.
  proxy.mode = "slow";
  proxy.slowMs = 1500; // within the timeout: the runs are in flight when the edge dies
  await submit(4);
  await sleep(1000);
  const port = Number(new URL(stack.edgeUrl).port);
  await stack.stop();
  proxy.mode = "pass";
  stack = await startStack({
    web: false,
    persistTo: persist,
    edgePort: port,
    gpuUrl: proxy.url,
    apiKey: stack.apiKey,
    adminToken: stack.adminToken,
    vars: {
      RATE_LIMIT_REQUESTS: "100000000",
      RATE_LIMIT_WINDOW_S: "3600",
      GPU_TIMEOUT_MS: "3000",
      JOB_RETRY_DELAYS_S: "1,1,1,1",
      WEBHOOK_RETRY_SCHEDULE_S: "0,1,1,1,1,1,1",
      JOB_LEASE_S: "20",
      JOB_STALE_S: "20",
    },
    log: () => {},
  });
  o.running.stack = stack;
  result.jobsAccepted = jobIds.length;

  // Until every job is final: the queue retries, and the cron sweep re-sends what the killed
  // edge lost (wrangler dev runs crons only when asked: /cdn-cgi/handler/scheduled).
  const deadline = Date.now() + 240_000;
  const placeholders = jobIds.map(() => "?").join(",");
  const statuses = () =>
    sqlite(db, `SELECT status, COUNT(*) FROM jobs WHERE id IN (${placeholders}) GROUP BY status`, jobIds) as [string, number][];
  for (;;) {
    const s = Object.fromEntries(statuses());
    const final = (s.succeeded ?? 0) + (s.failed ?? 0) + (s.canceled ?? 0);
    if (final === jobIds.length || Date.now() > deadline) break;
    await send(`${stack.edgeUrl}/cdn-cgi/handler/scheduled?cron=*/10+*+*+*+*`, { timeoutMs: 10_000 });
    await sleep(3000);
  }
  const s = Object.fromEntries(statuses());
  result.jobsSucceeded = s.succeeded ?? 0;
  result.jobsFailed = (s.failed ?? 0) + (s.canceled ?? 0);
  result.jobsFinal = result.jobsSucceeded + result.jobsFailed;
  result.duplicateCharges = Number(
    sqlite(
      db,
      `SELECT COUNT(*) FROM (SELECT request_id FROM ledger WHERE delta < 0 AND request_id IN (${placeholders}) GROUP BY request_id HAVING COUNT(*) > 1)`,
      jobIds,
    )[0][0],
  );
  result.jobCredits = Number(
    sqlite(db, `SELECT COALESCE(-SUM(delta), 0) FROM ledger WHERE delta < 0 AND request_id IN (${placeholders})`, jobIds)[0][0],
  );
  const killed = jobIds.slice(-4);
  const killedFinal = sqlite(
    db,
    `SELECT COUNT(*) FROM jobs WHERE id IN (${killed.map(() => "?").join(",")}) AND status IN ('succeeded','failed','canceled')`,
    killed,
  )[0][0];
  result.consumerSteps.push({
    step: "edge (consumer) killed mid-run, restarted on its storage",
    summary: `${killedFinal}/${killed.length} of its jobs final`,
    good: killedFinal === killed.length,
  });

  // Webhooks: one `completed` event per final job, each delivered (2xx) exactly once.
  const until = Date.now() + 60_000;
  const delivered = () => [...receiver.seen.values()].filter((x) => x.ok > 0 && jobIds.includes(x.job));
  while (delivered().length < result.jobsFinal && Date.now() < until) await sleep(1000);
  result.eventsExpected = result.jobsFinal;
  const perEvent = new Map<string, number>();
  for (const x of receiver.seen.values())
    if (x.ok > 0 && jobIds.includes(x.job)) perEvent.set(`${x.job} ${x.type}`, (perEvent.get(`${x.job} ${x.type}`) ?? 0) + x.ok);
  result.eventsDelivered = perEvent.size;
  result.duplicateDeliveries = [...perEvent.values()].filter((n) => n > 1).length;
  await receiver.close();
  o.log(`jobs: ${JSON.stringify(s)}; events delivered ${result.eventsDelivered}/${result.eventsExpected}`);
  return result;
}
