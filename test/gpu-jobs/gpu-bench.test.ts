/**
 * The GPU benchmark's CPU rehearsal: gpu-jobs/scripts/gpu-bench.sh --rehearse runs the same code
 * as on a GPU machine (fp16 graph, ONNX Runtime rows, PyTorch rows, the table, the JSON) with the
 * CPU standing in for CUDA at tiny sizes, so that the first GPU run does not fail on a typo.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { GPU_JOBS, PYTHON } from "../../gpu-jobs/cli/python.ts";
import { tempDir } from "./helpers.ts";

describe("GPU benchmark, rehearsed on the CPU", () => {
  it("prints one table with every path at every size and batch, or the reason a path is missing", () => {
    const dest = tempDir("gmcnn-gpu-bench-");
    const r = spawnSync("bash", [join(GPU_JOBS, "scripts/gpu-bench.sh"), "--rehearse", "--sizes", "16,32", "--dest", dest], {
      encoding: "utf8",
      env: { ...process.env, PYTHON, GMCNN_THREADS: "2" },
    });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toMatch(/^GPU benchmark: CPU \(rehearsal, no CUDA\); torch /);
    expect(lines[1]).toBe("| path | 16x16 b1 | 16x16 b2 | 32x32 b1 | 32x32 b2 | note |");
    const row = (prefix: string) => {
      const line = lines.find((l) => l.startsWith(`| ${prefix}`));
      expect(line, prefix).toBeDefined();
      return line!.split("|").map((c) => c.trim());
    };
    // Timed rows: four cells "ms (ms per image)"; the per-image time is the batch time / batch.
    for (const p of ["ORT CPU fp32", "ORT CPU fp16", "PyTorch bf16 channels_last ("]) {
      const cells = row(p).slice(2, 6);
      for (const c of cells) expect(c, `${p}: ${c}`).toMatch(/^\d+\.\d \(\d+\.\d\)$/);
      const [batch2, perImage] = cells[1].match(/[\d.]+/g)!.map(Number);
      expect(perImage).toBeCloseTo(batch2 / 2, 0);
    }
    // Paths this machine cannot run say why.
    expect(row("ORT TensorRT").at(-2)).toMatch(/no tensorrt provider|TensorrtExecutionProvider|rehearsal/);
    const compile = row("PyTorch bf16 channels_last + torch.compile");
    if (compile.slice(2, 6).includes("n/a")) expect(compile.at(-2)).toMatch(/torch\.compile|Error|budget/);
    expect(r.stdout).toMatch(/target: <= 10 ms at 512x512/);
    const json = JSON.parse(readFileSync(join(dest, "gpu-bench.json"), "utf8"));
    expect(json).toMatchObject({ sizes: [16, 32], batches: [1, 2] });
    expect(readFileSync(join(dest, "gpu-bench.md"), "utf8")).toBe(r.stdout);
  });
});
