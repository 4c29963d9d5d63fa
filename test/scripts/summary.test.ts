/**
 * The closing line CI reads (scripts/summary.mjs): it must not say "0 failed" when a runner did
 * not run, crashed, collected nothing or broke at suite level. Each case writes the result files
 * scripts/test.sh would leave (reports, exit statuses, checks) to a temp folder and runs the
 * summariser on them as test.sh does.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..", "..");
const SCRIPT = join(ROOT, "scripts", "summary.mjs");

type Status = "passed" | "failed" | "skipped" | "pending" | "todo";
type VFile = { name: string; status?: "passed" | "failed"; message?: string; tests: Status[] };

/** A vitest JSON report in the shape vitest 4's json reporter writes (only the fields read). */
function vitestReport(files: VFile[]): string {
  const all = files.flatMap((f) => f.tests);
  const n = (s: Status) => all.filter((t) => t === s).length;
  return JSON.stringify({
    numTotalTestSuites: files.length,
    numFailedTestSuites: files.filter((f) => (f.status ?? (f.tests.includes("failed") ? "failed" : "passed")) === "failed")
      .length,
    numTotalTests: all.length,
    numPassedTests: n("passed"),
    numFailedTests: n("failed"),
    numPendingTests: n("skipped") + n("pending"),
    numTodoTests: n("todo"),
    success: !files.some((f) => f.status === "failed" || f.tests.includes("failed")),
    testResults: files.map((f) => ({
      name: `/repo/${f.name}`,
      status: f.status ?? (f.tests.includes("failed") ? "failed" : "passed"),
      message: f.message ?? "",
      assertionResults: f.tests.map((status, i) => ({ title: `t${i}`, fullName: `t${i}`, status, failureMessages: [] })),
    })),
  });
}

function junit(tests: number, failures = 0, errors = 0, skipped = 0): string {
  return `<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest" errors="${errors}" failures="${failures}" skipped="${skipped}" tests="${tests}" time="1.0"><testcase classname="t" name="x" time="0.1" /></testsuite></testsuites>`;
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const SKIPS = { "vitest-node.json": { allowed: 1, why: "a fixture skip" } };

/** The files of a clean run: 3 checks, 2 + 3 + 4 passing tests, one allowed skip. */
function goodRun(): Record<string, string | null> {
  return {
    "check-typecheck": "pass\n",
    "check-typecheck-workers": "pass\n",
    "check-lint": "pass\n",
    "vitest-node.json": vitestReport([{ name: "a.test.ts", tests: ["passed", "passed", "skipped"] }]),
    "exit-vitest-node": "0\n",
    "vitest-workers.json": vitestReport([{ name: "w.test.ts", tests: ["passed", "passed", "passed"] }]),
    "exit-vitest-workers": "0\n",
    "pytest.xml": junit(4),
    "exit-pytest": "0\n",
  };
}

function summarise(overrides: Record<string, string | null> = {}, skips: object = SKIPS) {
  const dir = mkdtempSync(join(tmpdir(), "summary-"));
  dirs.push(dir);
  const results = join(dir, "results");
  spawnSync("mkdir", [results]);
  for (const [name, text] of Object.entries({ ...goodRun(), ...overrides })) {
    if (text !== null) writeFileSync(join(results, name), text);
  }
  writeFileSync(join(dir, "skips.json"), JSON.stringify(skips));
  const r = spawnSync(process.execPath, [SCRIPT, results, "--skips", join(dir, "skips.json")], { encoding: "utf8" });
  const lines = r.stdout.trim().split("\n");
  const last = lines.at(-1) ?? "";
  const m = last.match(/^(\d+) passed, (\d+) failed, (\d+) skipped$/);
  return {
    status: r.status,
    out: r.stdout + r.stderr,
    last,
    passed: Number(m?.[1] ?? Number.NaN),
    failed: Number(m?.[2] ?? Number.NaN),
    skipped: Number(m?.[3] ?? Number.NaN),
  };
}

describe("scripts/summary.mjs: the closing line", () => {
  it("a clean run: every runner's passes summed, skips printed, exit 0", () => {
    const s = summarise();
    expect(s.last).toBe("12 passed, 0 failed, 1 skipped");
    expect(s.status).toBe(0);
  });

  it.each(["vitest-node.json", "vitest-workers.json", "pytest.xml"])("a missing report (%s) is a failure", (report) => {
    const s = summarise({ [report]: null });
    expect(s.failed).toBeGreaterThanOrEqual(1);
    expect(s.status).toBe(1);
    expect(s.out).toContain(`${report}: missing`);
  });

  it.each(["check-typecheck", "check-typecheck-workers", "check-lint"])("a missing check (%s) is a failure", (check) => {
    const s = summarise({ [check]: null });
    expect(s.failed).toBe(1);
    expect(s.status).toBe(1);
  });

  it("a check test.sh wrote beyond the expected ones counts too", () => {
    expect(summarise({ "check-schemas": "pass\n" }).last).toBe("13 passed, 0 failed, 1 skipped");
    expect(summarise({ "check-schemas": "fail\n" }).failed).toBe(1);
  });

  it("an empty report file and a malformed one are failures, and the closing line is still printed", () => {
    for (const text of ["", "{not json", JSON.stringify({ numTotalTests: 2, testResults: [] }), "<testsuites/>"]) {
      const s = summarise({ "vitest-workers.json": text, "pytest.xml": text });
      expect(s.last, text).toMatch(/^\d+ passed, \d+ failed, \d+ skipped$/);
      expect(s.failed, text).toBe(2);
      expect(s.status, text).toBe(1);
    }
  });

  it("a runner that reports zero tests is a failure (vitest: no files matched; pytest: nothing collected)", () => {
    const s = summarise({ "vitest-workers.json": vitestReport([]), "pytest.xml": junit(0) });
    expect(s.failed).toBe(2);
    expect(s.status).toBe(1);
  });

  it("a globalSetup crash: vitest writes a report with zero tests and exits 1", () => {
    // What vitest 4 writes when the workers suite's globalSetup (the GPU stand-in) throws.
    const crashed = JSON.stringify({
      numTotalTestSuites: 0,
      numPassedTestSuites: 0,
      numFailedTestSuites: 0,
      numPendingTestSuites: 0,
      numTotalTests: 0,
      numPassedTests: 0,
      numFailedTests: 0,
      numPendingTests: 0,
      numTodoTests: 0,
      success: false,
      testResults: [],
    });
    const s = summarise({ "vitest-workers.json": crashed, "exit-vitest-workers": "1\n" });
    expect(s.failed).toBeGreaterThanOrEqual(1);
    expect(s.passed).toBe(2 + 4 + 3); // the other runners still count
    expect(s.status).toBe(1);
  });

  it("a failing beforeAll: every test of the broken file counts as failed, not skipped", () => {
    // e2e/stack.test.ts when startStack throws: the file fails at suite level and its 35 tests
    // are marked skipped; a nested describe's beforeAll leaves the file's message empty.
    const s = summarise({
      "vitest-node.json": vitestReport([
        {
          name: "e2e/stack.test.ts",
          status: "failed",
          message: "startStack: gpu server did not start",
          tests: Array(30).fill("skipped"),
        },
        { name: "sdk/sdk.test.ts", status: "failed", message: "", tests: [...Array(5).fill("skipped"), "passed"] },
        { name: "shared/x.test.ts", tests: ["passed", "skipped"] },
      ]),
      "exit-vitest-node": "1\n",
    });
    expect(s.failed).toBe(35);
    expect(s.skipped).toBe(1);
    expect(s.status).toBe(1);
  });

  it("a file that fails to import (no tests at all) counts once", () => {
    const s = summarise({
      "vitest-node.json": vitestReport([
        { name: "a.test.ts", tests: ["passed"] },
        { name: "broken.test.ts", status: "failed", message: "Cannot find module", tests: [] },
      ]),
      "exit-vitest-node": "1\n",
    });
    expect(s.failed).toBe(1);
  });

  it("an unhandled error: a clean report but exit status 1 is a failure", () => {
    const s = summarise({ "exit-vitest-node": "1\n" });
    expect(s.failed).toBe(1);
    expect(s.status).toBe(1);
    expect(s.out).toContain("exit status 1");
  });

  it("a missing or malformed exit status is a failure", () => {
    expect(summarise({ "exit-pytest": null }).failed).toBe(1);
    expect(summarise({ "exit-pytest": "ok\n" }).failed).toBe(1);
  });

  it("pytest failures and errors (collection errors) count; its xfails are skips", () => {
    const s = summarise(
      { "pytest.xml": junit(10, 1, 2, 1), "exit-pytest": "1\n" },
      {
        ...SKIPS,
        "pytest.xml": { allowed: 1, why: "x" },
      },
    );
    expect([s.passed, s.failed, s.skipped]).toEqual([3 + 2 + 3 + 6, 3, 2]);
  });

  it("skipped tests above the declared allowance count as failed", () => {
    const over = summarise({
      "vitest-node.json": vitestReport([{ name: "a.test.ts", tests: ["passed", "skipped", "skipped", "todo"] }]),
    });
    expect([over.failed, over.skipped]).toEqual([2, 1]);
    expect(over.status).toBe(1);
    // No allowance declared for a runner: none allowed.
    const none = summarise({ "vitest-workers.json": vitestReport([{ name: "w.test.ts", tests: ["passed", "skipped"] }]) });
    expect(none.failed).toBe(1);
  });

  it("an unreadable skips file or results folder still ends with the closing line, failed", () => {
    const r = spawnSync(process.execPath, [SCRIPT, join(tmpdir(), "no-such-results-folder")], { encoding: "utf8" });
    expect(r.stdout.trim().split("\n").at(-1)).toBe("0 passed, 1 failed, 0 skipped");
    expect(r.status).toBe(1);
  });
});

describe("scripts/test.sh feeds the summariser everything it expects", () => {
  const sh = readFileSync(join(ROOT, "scripts", "test.sh"), "utf8");

  it("records every runner's exit status and writes every report the summariser requires", async () => {
    const { RUNNERS, CHECKS } = (await import(SCRIPT)) as {
      RUNNERS: { name: string; report: string }[];
      CHECKS: string[];
    };
    for (const r of RUNNERS) {
      const line = sh.split("\n").find((l) => l.startsWith(`runner ${r.name} `));
      expect(line, r.name).toBeDefined();
      expect(line, r.name).toContain(`$R/${r.report}`);
    }
    for (const c of CHECKS) expect(sh).toMatch(new RegExp(`^check ${c} `, "m"));
    // Unconditional: a runner behind `[ -f ... ] &&` could drop out without a trace.
    expect(sh).not.toMatch(/^\s*(\[ |if \[)/m);
  });

  it("exits with the summariser's status (the last command), so .ci/run fails with it", () => {
    const lines = sh.trim().split("\n");
    expect(lines.at(-1)).toBe('node scripts/summary.mjs "$R"');
    expect(sh).not.toMatch(/summary\.mjs[^\n]*\|\|/);
    expect(readFileSync(join(ROOT, ".ci", "run"), "utf8")).toMatch(/set -e[^\n]*\n[\s\S]*npm test\s*$/);
  });
});
