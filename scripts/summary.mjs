// Sums the runners' own result files into the one line CI reads:
//   "N passed, N failed, N skipped"
// Usage: node scripts/summary.mjs DIR [--skips FILE]
//
// DIR is what scripts/test.sh writes: check-<name> ("pass" or "fail"), each runner's report
// (vitest-node.json, vitest-workers.json, pytest.xml) and each runner's exit status
// (exit-<runner>, a number). The line is honest by construction:
// - every expected report and exit status must exist and be well-formed, or it counts as a failure;
// - a runner that exits non-zero fails even when its report shows no failed test (vitest's
//   unhandled errors and a crashed globalSetup reach only the exit status);
// - a runner that reports zero tests fails;
// - in a test file that failed at suite level (a failing beforeAll, an import error), every test
//   that did not pass counts as failed, and the file counts at least once;
// - skipped tests are printed, and those above the runner's allowance in the skips file
//   (default test/skips.json: {"<report>": {"allowed": N, "why": "..."}}) count as failed.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const CHECKS = ["typecheck", "typecheck-workers", "lint"];
export const RUNNERS = [
  { name: "vitest-node", report: "vitest-node.json", kind: "vitest" },
  { name: "vitest-workers", report: "vitest-workers.json", kind: "vitest" },
  { name: "pytest", report: "pytest.xml", kind: "junit" },
];

class Malformed extends Error {}

const count = (n, what) => {
  if (!Number.isInteger(n) || n < 0) throw new Malformed(`${what} is not a count: ${JSON.stringify(n)}`);
  return n;
};

/** A vitest JSON report: {passed, failed, skipped, notes}. */
function vitest(text) {
  let j;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw new Malformed(`not JSON (${e.message})`);
  }
  if (!j || typeof j !== "object" || !Array.isArray(j.testResults)) throw new Malformed("no testResults array");
  const total = count(j.numTotalTests, "numTotalTests");
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  let seen = 0;
  const notes = [];
  for (const file of j.testResults) {
    if (!file || !Array.isArray(file.assertionResults) || typeof file.status !== "string") {
      throw new Malformed("a testResults entry without assertionResults or status");
    }
    const statuses = file.assertionResults.map((a) => a?.status);
    seen += statuses.length;
    const p = statuses.filter((s) => s === "passed").length;
    const f = statuses.filter((s) => s === "failed").length;
    const rest = statuses.length - p - f; // skipped, pending, todo
    if (file.status === "failed") {
      // A suite-level failure (beforeAll, import, file-level throw) leaves its tests skipped:
      // they did not run because the file is broken, so they are failures, not skips.
      const bad = Math.max(1, f + rest);
      passed += p;
      failed += bad;
      if (bad > f) {
        const why = typeof file.message === "string" && file.message ? `: ${file.message.split("\n")[0]}` : "";
        notes.push(`${file.name ?? "a file"} failed at suite level, ${bad - f} more counted failed${why}`);
      }
    } else {
      passed += p;
      failed += f;
      skipped += rest;
    }
  }
  if (seen !== total) throw new Malformed(`numTotalTests is ${total} but the files list ${seen} tests`);
  return { passed, failed, skipped, notes };
}

const attr = (tag, k) => {
  const m = tag.match(new RegExp(`\\s${k}="(\\d+)"`));
  return m ? Number(m[1]) : null;
};

/** A JUnit XML report (pytest --junitxml): {passed, failed, skipped, notes}. */
function junit(text) {
  const tags = text.match(/<testsuite\s[^>]*>/g);
  if (!tags || !/<\/testsuite>|<testsuite\s[^>]*\/>/.test(text)) throw new Malformed("no complete <testsuite> element");
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for (const tag of tags) {
    const tests = attr(tag, "tests");
    if (tests === null) throw new Malformed("a <testsuite> without tests=");
    const bad = (attr(tag, "failures") ?? 0) + (attr(tag, "errors") ?? 0);
    const skip = attr(tag, "skipped") ?? 0;
    if (bad + skip > tests) throw new Malformed(`failures + errors + skipped > tests in ${tag}`);
    passed += tests - bad - skip;
    failed += bad;
    skipped += skip;
  }
  return { passed, failed, skipped, notes: [] };
}

export function summarise(dir, allowances = {}) {
  const rows = [];
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const failRow = (name, why) => {
    rows.push(`${name}: ${why}: counted as 1 failed`);
    failed++;
  };

  // The expected checks, then any other check-* test.sh wrote (a new check counts at once).
  const extra = readdirSync(dir)
    .filter((f) => f.startsWith("check-") && !CHECKS.includes(f.slice(6)))
    .map((f) => f.slice(6))
    .sort();
  for (const c of [...CHECKS, ...extra]) {
    const p = join(dir, `check-${c}`);
    if (!existsSync(p)) {
      failRow(`check-${c}`, "missing (the check never ran)");
      continue;
    }
    const v = readFileSync(p, "utf8").trim();
    if (v === "pass") {
      passed++;
      rows.push(`check-${c}: pass`);
    } else failRow(`check-${c}`, v === "fail" ? "fail" : `malformed (${JSON.stringify(v.slice(0, 40))})`);
  }

  for (const r of RUNNERS) {
    const exitFile = join(dir, `exit-${r.name}`);
    const exitText = existsSync(exitFile) ? readFileSync(exitFile, "utf8").trim() : null;
    const status = exitText !== null && /^\d+$/.test(exitText) ? Number(exitText) : null;
    const reportFile = join(dir, r.report);
    let res;
    if (!existsSync(reportFile)) {
      failRow(r.report, `missing (the runner crashed or never ran; exit status ${exitText ?? "not recorded"})`);
      continue;
    }
    try {
      res = (r.kind === "vitest" ? vitest : junit)(readFileSync(reportFile, "utf8"));
    } catch (e) {
      if (!(e instanceof Malformed)) throw e;
      failRow(r.report, `malformed (${e.message})`);
      continue;
    }
    const notes = [...res.notes];
    if (res.passed + res.failed + res.skipped === 0) {
      res.failed++;
      notes.push("no tests ran: counted as 1 failed");
    }
    if (status === null) {
      res.failed++;
      notes.push(
        `exit status ${exitText === null ? "not recorded" : `malformed (${JSON.stringify(exitText)})`}: counted as 1 failed`,
      );
    } else if (status !== 0 && res.failed === 0) {
      res.failed++;
      notes.push(
        `exit status ${status} with no failed test in the report (an unhandled error, a crashed setup or a timeout): counted as 1 failed`,
      );
    }
    const allowed = allowances[r.report]?.allowed ?? 0;
    if (res.skipped > allowed) {
      const over = res.skipped - allowed;
      notes.push(`${res.skipped} skipped where ${allowed} are allowed: ${over} counted as failed`);
      res.failed += over;
      res.skipped = allowed;
    }
    rows.push(`${r.report}: ${res.passed} passed, ${res.failed} failed, ${res.skipped} skipped`);
    for (const n of notes) rows.push(`  ${n}`);
    passed += res.passed;
    failed += res.failed;
    skipped += res.skipped;
  }
  return { rows, passed, failed, skipped };
}

function readAllowances(file) {
  if (!existsSync(file)) throw new Error(`skips file ${file} is missing`);
  const j = JSON.parse(readFileSync(file, "utf8"));
  for (const [k, v] of Object.entries(j)) {
    if (k.startsWith("$")) continue;
    if (!Number.isInteger(v?.allowed) || v.allowed < 0 || typeof v.why !== "string" || !v.why) {
      throw new Error(`skips file ${file}: ${k} needs {"allowed": N, "why": "..."}`);
    }
  }
  return j;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const i = args.indexOf("--skips");
  const skipsFile = i >= 0 ? args[i + 1] : join(dirname(fileURLToPath(import.meta.url)), "..", "test", "skips.json");
  const dir = args.find((a, k) => !a.startsWith("--") && args[k - 1] !== "--skips");
  let out;
  try {
    if (!dir || !existsSync(dir)) throw new Error(`no results folder: ${dir ?? "(none given)"}`);
    out = summarise(dir, readAllowances(skipsFile));
  } catch (e) {
    // The last line is always printed, and a summariser that cannot read its input fails.
    console.log(`\nsummary: ${e.message}`);
    console.log("0 passed, 1 failed, 0 skipped");
    process.exit(1);
  }
  console.log(`\n${out.rows.join("\n")}`);
  console.log(`${out.passed} passed, ${out.failed} failed, ${out.skipped} skipped`);
  process.exit(out.failed > 0 ? 1 : 0);
}
