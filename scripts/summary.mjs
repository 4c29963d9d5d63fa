// Sums the runners' own result files into the one line CI reads: "N passed, N failed".
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const dir = process.argv[2];
let passed = 0;
let failed = 0;
const rows = [];
for (const f of readdirSync(dir).sort()) {
  const p = join(dir, f);
  let ok = 0;
  let bad = 0;
  if (f.startsWith("check-")) {
    readFileSync(p, "utf8").trim() === "pass" ? ok++ : bad++;
  } else if (f.endsWith(".json")) {
    const j = JSON.parse(readFileSync(p, "utf8"));
    ok = j.numPassedTests;
    // A suite that failed to load has no tests but is a failure.
    bad = j.numFailedTests + (j.numFailedTestSuites > 0 && j.numFailedTests === 0 ? j.numFailedTestSuites : 0);
  } else if (f.endsWith(".xml")) {
    const x = readFileSync(p, "utf8");
    const m = x.match(/<testsuite [^>]*>/);
    const attr = (k) => Number((m?.[0].match(new RegExp(` ${k}="(\\d+)"`)) ?? [0, 0])[1]);
    bad = attr("failures") + attr("errors");
    ok = attr("tests") - bad - attr("skipped");
  } else continue;
  rows.push(`${f}: ${ok} passed, ${bad} failed`);
  passed += ok;
  failed += bad;
}
// A runner that crashed before writing its results must not vanish from the count.
for (const expected of ["vitest-node.json", "pytest.xml"]) {
  if (!existsSync(join(dir, expected))) {
    rows.push(`${expected}: missing (runner crashed)`);
    failed++;
  }
}
console.log(`\n${rows.join("\n")}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
