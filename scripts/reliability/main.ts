/**
 * `npm run reliability`: the figures a customer's security review asks for, measured on this
 * machine through the real local stack (wrangler dev + workerd + the GPU function server with the
 * shipped model), loopback only. It stops by itself and prints one table (also written to
 * out/reliability.md and out/reliability.json):
 *
 *   1. bad inputs on every route (./bad-inputs.ts)      2. property fuzzing, long runs (vitest)
 *   3. faults: GPU, queue consumer, webhook receiver    4. load (wrk) and a soak with RSS samples
 *   5. SSRF: every encoding of a private address, for image_url, mask_url and webhooks
 *
 * Options: --quick (short soak, fewer fuzz runs: a check of the script, not the figures),
 * --soak-s=N (default 600), --soak-misses=N (connections sending misses in the soak, default 2), --only=bad,fuzz,faults,load,ssrf, --seed=N.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, type Stack, startStack } from "../stack.ts";
import { type BadInputsResult, runBadInputs } from "./bad-inputs.ts";
import { type FaultsResult, runFaults } from "./faults.ts";
import { type FaultProxy, type GpuProcess, startFaultProxy, startGpu } from "./gpu.ts";
import { type ControlResult, type LoadResult, runControl, runLoad, runSoak, type SoakResult } from "./load.ts";
import { type ShapesAtBudget, shapesAtBudget } from "./shapes.ts";
import { runRedirects, runSsrf, type SsrfResult } from "./ssrf.ts";

const argv = process.argv.slice(2);
const flag = (name: string) => argv.find((a) => a === `--${name}` || a.startsWith(`--${name}=`));
const value = (name: string, fallback: string) => flag(name)?.split("=")[1] ?? fallback;
const quick = !!flag("quick");
const only = new Set(value("only", "bad,fuzz,shapes,faults,load,ssrf").split(","));
const seed = Number(value("seed", String(Date.now() % 1_000_000)));
const soakS = Number(value("soak-s", quick ? "30" : "600"));
const soakMisses = Number(value("soak-misses", "2"));
const fuzzRuns = Number(value("fuzz-runs", quick ? "2000" : "25000"));

const log = (s: string) => console.log(`[reliability] ${s}`);
const cpu = cpus()[0]?.model.trim() ?? "unknown CPU";

interface Running {
  stack: Stack;
  gpu?: GpuProcess;
  proxy?: FaultProxy;
  persist: string;
}

async function stackWith(name: string, vars: Record<string, string>, withGpu: boolean): Promise<Running> {
  const persist = mkdtempSync(join(tmpdir(), `gmcnn-reliability-${name}-`));
  let gpu: GpuProcess | undefined;
  let proxy: FaultProxy | undefined;
  if (withGpu) {
    gpu = await startGpu({ GMCNN_QUEUE_MAX_WAITING: "256" });
    proxy = await startFaultProxy(gpu);
  }
  const stack = await startStack({
    web: false, // the API alone (and a cron trigger that works: see scripts/stack.ts)
    persistTo: persist,
    // The edge calls the fault proxy; with no GPU at all, a port nothing listens on.
    gpuUrl: proxy?.url ?? "http://127.0.0.1:9",
    vars: { RATE_LIMIT_REQUESTS: "100000000", RATE_LIMIT_WINDOW_S: "3600", ...vars },
    log: (src, line) => {
      if (/error|exception|uncaught/i.test(line) && !/DNS lookup failed|fetch failed/.test(line))
        log(`${name}/${src}: ${line.slice(0, 300)}`);
    },
  });
  log(`${name}: edge ${stack.edgeUrl}${proxy ? `, GPU ${gpu?.url} behind ${proxy.url}` : ""}`);
  return { stack, gpu, proxy, persist };
}

async function stop(r: Running | undefined): Promise<void> {
  if (!r) return;
  await r.stack.stop();
  await r.proxy?.close();
  await r.gpu?.stop();
  rmSync(r.persist, { recursive: true, force: true });
}

interface FuzzResult {
  runs: number;
  seed: number;
  suites: { name: string; passed: number; failed: number }[];
}

function runFuzz(): FuzzResult {
  const out: FuzzResult = { runs: fuzzRuns, seed, suites: [] };
  for (const [name, config, file] of [
    ["shared (sniffing, protocol decoder, rasteriser)", "vitest.config.ts", "test/shared/fuzz.test.ts"],
    ["workerd (multipart form reader, upload inspection)", "test/workers/vitest.config.ts", "test/workers/fuzz.test.ts"],
  ]) {
    const report = join(ROOT, "out", `reliability-fuzz-${out.suites.length}.json`);
    spawnSync(
      process.execPath,
      [
        join(ROOT, "node_modules/vitest/vitest.mjs"),
        "run",
        "--config",
        config,
        file,
        "--reporter=json",
        `--outputFile=${report}`,
      ],
      {
        cwd: ROOT,
        env: { ...process.env, FUZZ_RUNS: String(fuzzRuns), FUZZ_SEED: String(seed) },
        stdio: "ignore",
        timeout: 1_800_000,
      },
    );
    let passed = 0;
    let failed = 1;
    try {
      const j = JSON.parse(readFileSync(report, "utf8"));
      passed = j.numPassedTests;
      failed = j.numFailedTests + (j.numFailedTestSuites && !j.numFailedTests ? j.numFailedTestSuites : 0);
    } catch {
      /* no report: counted as failed */
    }
    out.suites.push({ name, passed, failed });
    log(`fuzz ${name}: ${passed} passed, ${failed} failed (${fuzzRuns} runs, seed ${seed})`);
  }
  return out;
}

const ok = (good: boolean) => (good ? "ok" : "FAIL");

function table(
  r: {
    bad?: BadInputsResult;
    fuzz?: FuzzResult;
    shapes?: ShapesAtBudget;
    faults?: FaultsResult;
    load?: LoadResult;
    soak?: SoakResult;
    control?: ControlResult;
    ssrf?: SsrfResult;
  },
  seconds: number,
): { text: string; pass: boolean } {
  const rows: [string, string, string][] = [];
  let pass = true;
  const row = (what: string, figure: string | number, good = true) => {
    rows.push([what, String(figure), ok(good)]);
    pass &&= good;
  };
  if (r.bad) {
    const b = r.bad;
    row(
      "bad inputs: cases (routes covered)",
      `${b.cases} (${b.routesCovered}/${b.routes} documented routes)`,
      b.cases >= 150 && b.uncovered.length === 0,
    );
    row(
      "bad inputs: 4xx problem+json, status/type/title agree",
      `${b.problems4xx}${b.lateFailures.length ? ` (+ ${b.lateFailures.length} jobs accepted, see below)` : ""}`,
      b.problems4xx + b.lateFailures.length === b.cases,
    );
    row("bad inputs: 5xx", b.status5xx.length, b.status5xx.length === 0);
    row("bad inputs: 2xx for garbage", b.status2xx.length, b.status2xx.length === 0);
    row(
      "bad inputs: other answers (wrong media type, disagreeing)",
      b.other.length + b.disagreeing.length,
      b.other.length + b.disagreeing.length === 0,
    );
    row(
      "bad inputs: jobs accepted, then failed uncharged (only a run can check)",
      `${b.lateFailures.length}${b.lateFailures.length ? `: ${b.lateFailures.map((l) => `${l.name.replace(/^jobs: /, "")} (${l.error.trim()})`).join("; ")}` : ""}`,
      true,
    );
    row(
      "bad inputs: credits charged / jobs created / objects stored",
      `${b.creditsCharged} / ${b.jobsCreated - b.lateFailures.length} / ${b.objectsStored}${b.lateFailures.length ? ` (besides the ${b.lateFailures.length} failed jobs and their inputs)` : ""}`,
      b.creditsCharged === 0 && b.jobsCreated === b.lateFailures.length && b.objectsStored === 0,
    );
    row(
      "bad inputs: /healthz answered after every case (slowest)",
      `${b.healthzAnswered}/${b.cases} (${Math.round(b.healthzMaxMs)} ms)`,
      b.healthzAnswered === b.cases && b.healthzMaxMs < 1000,
    );
  }
  if (r.fuzz)
    for (const s of r.fuzz.suites)
      row(
        `fuzzing: ${s.name}, ${r.fuzz.runs} runs/property, seed ${r.fuzz.seed}`,
        `${s.passed} passed, ${s.failed} failed`,
        s.failed === 0 && s.passed > 0,
      );
  if (r.shapes)
    for (const c of r.shapes.cases)
      row(
        `mask_shapes at the work bound, ${r.shapes.width}x${r.shapes.height}: ${c.name}`,
        `${c.ms.toFixed(0)} ms (${(c.work / 1e6).toFixed(1)} M units); one more: ${c.refusedWhenGrown ? "422" : "accepted"}`,
        c.refusedWhenGrown,
      );
  if (r.faults) {
    const f = r.faults;
    for (const m of f.sync) row(`faults, sync: GPU ${m.mode} (answers)`, m.summary, m.good);
    row("faults, sync: charges = successful calls", `${f.syncCharges} = ${f.syncSuccesses}`, f.syncCharges === f.syncSuccesses);
    row(
      "faults, jobs: accepted = reached a final state",
      `${f.jobsAccepted} = ${f.jobsFinal} (${f.jobsSucceeded} succeeded, ${f.jobsFailed} failed)`,
      f.jobsAccepted === f.jobsFinal,
    );
    row("faults, jobs: duplicate charges", f.duplicateCharges, f.duplicateCharges === 0);
    row(
      "faults, jobs: charged = succeeded x price",
      `${f.jobCredits} = ${f.jobsSucceeded} x ${f.price}`,
      f.jobCredits === f.jobsSucceeded * f.price,
    );
    row(
      `faults, webhooks: receiver failing ${f.receiverFailures}x, events delivered`,
      `${f.eventsDelivered}/${f.eventsExpected}`,
      f.eventsDelivered === f.eventsExpected,
    );
    row("faults, webhooks: duplicate successful deliveries per event", f.duplicateDeliveries, f.duplicateDeliveries === 0);
    for (const s of f.consumerSteps) row(`faults, consumer: ${s.step}`, s.summary, s.good);
  }
  if (r.load) {
    for (const l of r.load.runs)
      row(
        `load: ${l.kind}, c=${l.concurrency} (p50 / p99 / req/s, non-2xx)`,
        `${l.p50} / ${l.p99} / ${l.rps.toFixed(1)}, ${l.non2xx}${
          l.non2xx
            ? ` (${Object.entries(l.codes)
                .map(([k, n]) => `${n} x ${k}`)
                .join(", ")})`
            : ""
        }`,
        l.non2xx === 0 && l.requests > 0,
      );
    const rl = r.load.rateLimit;
    row(
      `load: 429 at a key's limit (${rl.limit}/window)`,
      `first 429 at request ${rl.first429} of ${rl.sent}; ${rl.ok} x 2xx`,
      rl.first429 === rl.limit + 1 && rl.ok === rl.limit,
    );
  }
  if (r.soak) {
    const s = r.soak;
    row(
      `soak: ${s.seconds} s, 4 connections of hits + ${s.missConnections} of misses, ${s.requests} requests (non-2xx)`,
      `${s.non2xx} non-2xx`,
      s.non2xx === 0,
    );
    row(
      "soak: /healthz every 2 s under that load (slowest)",
      `${s.healthz.ok}/${s.healthz.asked} (${Math.round(s.healthz.maxMs)} ms)`,
      s.healthz.ok === s.healthz.asked && s.healthz.maxMs < 1000,
    );
    for (const p of s.processes)
      row(
        `soak: RSS ${p.name}, start -> end (max)`,
        `${p.startMb.toFixed(0)} -> ${p.endMb.toFixed(0)} MB (${p.maxMb.toFixed(0)}), ${p.growthMb >= 0 ? "+" : ""}${p.growthMb.toFixed(0)} MB` +
          (p.name.startsWith("workerd") ? ` (${((p.growthMb * 1024) / Math.max(1, s.requests)).toFixed(1)} KB/request)` : ""),
        true,
      );
  }
  if (r.control) {
    const c = r.control;
    row(
      "control: a one-line Worker under the same wrangler dev, workerd RSS",
      `${c.startMb.toFixed(0)} -> ${c.endMb.toFixed(0)} MB over ${c.requests} requests (${c.kbPerRequest.toFixed(1)} KB/request)`,
      true,
    );
  }
  if (r.ssrf) {
    const s = r.ssrf;
    row(`SSRF: URLs tried (image_url, mask_url, webhook), ${s.encodings} encodings`, s.attempts, s.attempts > 0);
    row(
      "SSRF: refused before any fetch (422 unsafe-url, or 400 not a URL)",
      `${s.refused}/${s.attempts}`,
      s.refused === s.attempts,
    );
    row("SSRF: connections that reached the 127.0.0.1 / ::1 listener", s.reached, s.reached === 0);
    row(
      "SSRF: redirects to private addresses followed (local switch on)",
      `${s.redirectsFollowed} of ${s.redirectsTried}`,
      s.redirectsFollowed === 0,
    );
  }
  const w = [Math.max(...rows.map((x) => x[0].length)), Math.max(...rows.map((x) => x[1].length))];
  const lines = [
    `gmcnn-edge reliability, ${new Date().toISOString().slice(0, 10)}, ${cpu}, ${cpus().length} cores, ${Math.round(seconds)} s${quick ? " (--quick)" : ""}`,
    "",
    `| ${"check".padEnd(w[0])} | ${"figure".padEnd(w[1])} |      |`,
    `|${"-".repeat(w[0] + 2)}|${"-".repeat(w[1] + 2)}|------|`,
    ...rows.map(([a, b, c]) => `| ${a.padEnd(w[0])} | ${b.padEnd(w[1])} | ${c.padEnd(4)} |`),
  ];
  return { text: lines.join("\n"), pass };
}

async function main(): Promise<void> {
  const t0 = Date.now();
  // What the runs need on a fresh clone: npm packages, Debian's python3 (SQLite reads) and wrk.
  if (spawnSync("bash", [join(ROOT, "scripts/setup.sh")], { stdio: "inherit" }).status !== 0)
    throw new Error("scripts/setup.sh failed");
  mkdirSync(join(ROOT, "out"), { recursive: true });
  const results: Parameters<typeof table>[0] = {};
  log(`${cpu}; seed ${seed}; soak ${soakS} s; fuzz ${fuzzRuns} runs`);

  let redirects: { tried: number; followed: number } | undefined;
  if (only.has("bad") || only.has("load") || only.has("ssrf")) {
    const main = await stackWith("main", {}, true);
    try {
      if (only.has("bad"))
        results.bad = await runBadInputs({
          edge: main.stack.edgeUrl,
          adminToken: main.stack.adminToken,
          persist: main.persist,
          seed,
          log,
        });
      // Redirects need the local switch on (an allowed receiver on 127.0.0.1): this stack's setting.
      if (only.has("ssrf")) redirects = await runRedirects({ edge: main.stack.edgeUrl, adminToken: main.stack.adminToken, log });
      if (only.has("load")) {
        results.load = await runLoad({ stack: main.stack, quick, log });
        results.soak = await runSoak({ stack: main.stack, seconds: soakS, missConnections: soakMisses, log });
      }
    } finally {
      await stop(main);
    }
    // With no other workerd running: every workerd under this process is the control's.
    if (only.has("load")) results.control = await runControl({ seconds: quick ? 10 : 60, log });
  }
  if (only.has("fuzz")) results.fuzz = runFuzz();
  if (only.has("shapes")) results.shapes = shapesAtBudget();
  if (only.has("faults")) {
    const faults = await stackWith(
      "faults",
      {
        GPU_TIMEOUT_MS: "3000",
        JOB_RETRY_DELAYS_S: "1,1,1,1",
        WEBHOOK_RETRY_SCHEDULE_S: "0,1,1,1,1,1,1",
        JOB_LEASE_S: "20",
        JOB_STALE_S: "20",
      },
      true,
    );
    try {
      results.faults = await runFaults({ running: faults, log });
    } finally {
      await stop(faults);
    }
  }
  if (only.has("ssrf")) {
    // The production guard: http and loopback refused (WEBHOOK_ALLOW_LOCAL off).
    const ssrf = await stackWith("ssrf", { WEBHOOK_ALLOW_LOCAL: "false" }, false);
    try {
      results.ssrf = await runSsrf({ edge: ssrf.stack.edgeUrl, adminToken: ssrf.stack.adminToken, log });
      results.ssrf.redirectsTried = redirects?.tried ?? 0;
      results.ssrf.redirectsFollowed = redirects?.followed ?? 0;
    } finally {
      await stop(ssrf);
    }
  }

  const { text, pass } = table(results, (Date.now() - t0) / 1000);
  console.log(`\n${text}\n`);
  const details = {
    bad_inputs_failures: results.bad && [
      ...results.bad.status5xx,
      ...results.bad.status2xx,
      ...results.bad.disagreeing,
      ...results.bad.other,
    ],
    ssrf_not_refused: results.ssrf?.notRefused,
    uncovered_routes: results.bad?.uncovered,
  };
  if (details.bad_inputs_failures?.length)
    console.log(`bad-input cases that failed:\n  ${details.bad_inputs_failures.join("\n  ")}`);
  if (details.uncovered_routes?.length) console.log(`routes without a bad-input case: ${details.uncovered_routes.join(", ")}`);
  writeFileSync(join(ROOT, "out/reliability.md"), `${text}\n`);
  writeFileSync(join(ROOT, "out/reliability.json"), JSON.stringify({ cpu, seed, quick, results }, null, 2));
  console.log(pass ? "reliability: all checks hold" : "reliability: some checks FAIL (see the table)");
  process.exit(pass ? 0 : 1);
}

main().catch((e) => {
  console.error(`reliability failed: ${(e as Error).stack ?? e}`);
  process.exit(2);
});
