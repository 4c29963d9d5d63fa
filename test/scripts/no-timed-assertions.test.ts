/**
 * The suite's convention: no test asserts on elapsed wall-clock time or waits a fixed time for
 * something to happen. Timings are measured by the benchmarks (bench/, `npm run bench*`); a test
 * asserts the mechanism instead (a work count, the order of events, the state the code left, the
 * code's own clock). This scans every test source under test/ for the forms such assertions take
 * and checks the scanner itself on samples, so that it cannot pass by matching nothing.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..", "..");
const SELF = relative(ROOT, import.meta.filename);

const CLOCK_TS = /\b(?:Date\.now|performance\.now)\(\)|process\.hrtime/;
const CLOCK_PY = /\btime\.(?:perf_counter|monotonic|time|process_time)(?:_ns)?\(\)/;
const COMPARE = String.raw`\.(?:toBeLessThan|toBeGreaterThan)(?:OrEqual)?\(`;
/** Names that say "a measured duration". */
const DURATION = String.raw`(?:elapsed\w*|took|duration\w*|latency\w*|wait_?ms|run_?ms|\w+_ms|seconds)`;
/** A sleep this long or longer is a fixed wait for something (polling loops wait 20-250 ms between looks). */
const FIXED_SLEEP_MS = 500;

/** Lines of a TypeScript/JavaScript test that assert on elapsed time or sleep a fixed time. */
function timedTs(src: string): string[] {
  const lines = src.split("\n");
  // Variables computed from a clock reading on their own line: `const ttl = Date.parse(x) - Date.now()`.
  const clockVars = new Set<string>();
  for (const l of lines) {
    const m = l.match(/\b(?:const|let|var)\s+(\w+)\s*=\s*(.*)$/);
    if (m && CLOCK_TS.test(m[2]) && /-/.test(m[2])) clockVars.add(m[1]);
  }
  const hits: string[] = [];
  lines.forEach((l, i) => {
    const why: string[] = [];
    // expect(Date.now() - t), expect(performance.now() - t0 ...)
    if (/expect\(\s*(?:Date\.now|performance\.now)\(\)\s*-/.test(l)) why.push("elapsed time in expect()");
    // expect(ttl).toBeGreaterThan(...) where ttl was computed from the clock
    for (const v of clockVars)
      if (new RegExp(String.raw`expect\(\s*${v}\s*[,)]`).test(l) && new RegExp(COMPARE).test(l))
        why.push(`clock-derived ${v} compared`);
    // .toBeGreaterThan(Date.now() + 5_000): a window on the test's own clock
    if (new RegExp(`${COMPARE}\\s*(?:Date\\.now|performance\\.now)\\(\\)`).test(l)) why.push("compared with the live clock");
    // expect(done.waitMs).toBeGreaterThan(20): a measured duration against a number
    if (new RegExp(String.raw`expect\(\s*[\w.?$!\[\]]*?${DURATION}\s*[,)].*${COMPARE}\s*[\d_.]+\s*\)`, "i").test(l))
      why.push("a duration compared with a number");
    // await new Promise((r) => setTimeout(r, 1500)) / await sleep(1500)
    const sleep = l.match(
      /await\s+(?:new Promise\(\s*\(?(\w+)\)?\s*=>\s*setTimeout\(\s*\1\s*,\s*([\d_]+)\s*\)\s*\)|sleep\(\s*([\d_]+)\s*\))/,
    );
    if (sleep && Number((sleep[2] ?? sleep[3]).replaceAll("_", "")) >= FIXED_SLEEP_MS) why.push("a fixed sleep");
    if (why.length) hits.push(`${i + 1}: ${why.join(", ")}: ${l.trim()}`);
  });
  return hits;
}

/** Lines of a Python test that assert on elapsed time or sleep a fixed time. */
function timedPy(src: string): string[] {
  const lines = src.split("\n");
  const clockVars = new Set<string>();
  for (const l of lines) {
    const m = l.match(/^\s*(\w+)\s*=\s*(.*)$/);
    if (m && CLOCK_PY.test(m[2]) && /-/.test(m[2])) clockVars.add(m[1]);
  }
  const hits: string[] = [];
  lines.forEach((l, i) => {
    if (!/^\s*assert\b/.test(l)) {
      const s = l.match(/\btime\.sleep\(\s*([\d.]+)\s*\)/);
      if (s && Number(s[1]) * 1000 >= FIXED_SLEEP_MS) hits.push(`${i + 1}: a fixed sleep: ${l.trim()}`);
      return;
    }
    const compares = /[<>]=?/.test(l);
    if (!compares) return;
    if (CLOCK_PY.test(l)) hits.push(`${i + 1}: elapsed time in assert: ${l.trim()}`);
    else if ([...clockVars].some((v) => new RegExp(String.raw`\b${v}\b`).test(l)))
      hits.push(`${i + 1}: clock-derived value compared: ${l.trim()}`);
    else if (new RegExp(String.raw`\b${DURATION}\b\s*[<>]=?\s*[\d.]+`, "i").test(l))
      hits.push(`${i + 1}: a duration compared with a number: ${l.trim()}`);
  });
  return hits;
}

function testSources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (name === "node_modules" || name === "fixtures" || name === "__pycache__") continue;
    if (statSync(p).isDirectory()) out.push(...testSources(p));
    else if (/\.(ts|mts|mjs|js|py)$/.test(name)) out.push(p);
  }
  return out;
}

describe("the scanner finds the forms timed assertions take", () => {
  it("TypeScript: elapsed time, clock windows, measured durations and fixed sleeps", () => {
    const bad = [
      "expect(Date.now() - t).toBeLessThan(1000);",
      "    expect(performance.now() - t0).toBeLessThan(500);",
      "const ttl = Date.parse(t.expires_at) - Date.now();\nexpect(ttl).toBeGreaterThan(890_000);",
      "expect(j?.lease_until).toBeGreaterThan(Date.now() + 5_000);",
      "expect(done[2].waitMs).toBeGreaterThan(20);",
      "expect(elapsed, 'x').toBeLessThanOrEqual(2.5);",
      "await new Promise((res) => setTimeout(res, 1500));",
      "await new Promise((r) => setTimeout(r, 1_000));",
      "await new Promise((r) => setTimeout(r, 500));",
      "await sleep(2000);",
    ];
    for (const b of bad) expect(timedTs(b), b).not.toEqual([]);
  });

  it("TypeScript: polling, orderings and computed delays are fine", () => {
    const good = [
      "await new Promise((r) => setTimeout(r, 150));",
      "if (Date.now() > deadline) throw new Error('timed out');",
      "expect(minted?.created_at).toBeGreaterThanOrEqual(before);",
      "expect(retries[0].delayMs).toBeGreaterThanOrEqual(retries[0].retryAfter! * 1000);",
      "expect(out.header.timing.total_ms).toBeGreaterThanOrEqual(out.header.timing.inference_ms);",
      "expect((j?.lease_until ?? 0) - (j?.started_at ?? 0)).toBeGreaterThanOrEqual(9_000);",
      "const end = Date.now() + seconds * 1000;",
    ];
    for (const g of good) expect(timedTs(g), g).toEqual([]);
  });

  it("Python: elapsed time, measured durations and fixed sleeps", () => {
    const bad = [
      "    assert time.perf_counter() - t < 1.0",
      "took = time.monotonic() - t0\nassert took < 2",
      "    assert elapsed <= 0.5",
      "time.sleep(2)",
    ];
    for (const b of bad) expect(timedPy(b), b).not.toEqual([]);
    for (const g of ["assert r.returncode == 0", "time.sleep(0.05)", "assert ours > theirs + margin"])
      expect(timedPy(g), g).toEqual([]);
  });
});

describe("no test asserts on elapsed time or sleeps a fixed time", () => {
  const files = testSources(join(ROOT, "test")).filter((p) => relative(ROOT, p) !== SELF);

  it("scans the whole test tree", () => {
    const rel = files.map((p) => relative(ROOT, p));
    // The suites the convention is about are all in the scan.
    for (const f of [
      "test/workers/inpaint.test.ts",
      "test/workers/jobs.test.ts",
      "test/e2e/stack.test.ts",
      "test/gpu-jobs/server.test.ts",
      "test/python/test_gpu_rehearsal.py",
    ])
      expect(rel).toContain(f);
  });

  it("has none", () => {
    const found = files.flatMap((p) => {
      const src = readFileSync(p, "utf8");
      return (p.endsWith(".py") ? timedPy(src) : timedTs(src)).map((h) => `${relative(ROOT, p)}:${h}`);
    });
    expect(found).toEqual([]);
  });
});
