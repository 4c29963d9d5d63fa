/**
 * `npm run bench`: every benchmark in one run, one after the other (they share two cores):
 * the model (ONNX Runtime vs PyTorch eager), the edge path through the local stack, and the
 * HD strategies / cache when present. Each prints its own table with the machine named.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const benches: [string, string[]][] = [
  ["model: onnxruntime-node vs PyTorch eager", ["gpu-jobs/cli/main.ts", "bench", ...process.argv.slice(2)]],
  ["edge: decode/preprocess/composite/encode vs GPU time", ["bench/edge.ts"]],
  ["HD strategies and cache", ["bench/hd.ts"]],
  ["jobs: async (queue, webhook) vs sync", ["bench/jobs.ts"]],
  ["browser: onnxruntime-web in Chromium vs onnxruntime-node", ["bench/browser.ts"]],
];
let failed = 0;
for (const [title, args] of benches) {
  if (!existsSync(`${root}${args[0]}`)) continue;
  console.log(`\n## ${title}\n`);
  const r = spawnSync(process.execPath, ["--import", "tsx", ...args], { cwd: root, stdio: "inherit" });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
