/**
 * `npm run bench` (model part): GMCNN at 256x256 and 512x512, onnxruntime-node against PyTorch
 * eager on the same weights and inputs, median of several runs, the ratio, and the fraction of
 * the FLOP floor (129.9 / 519.5 GFLOP per image at cnum=32) at this machine's measured sgemm rate.
 */
import { spawn } from "node:child_process";
import { cpus } from "node:os";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { GPU_JOBS, PYTHON } from "../gpu-jobs/cli/python.ts";
import { resolveModel } from "../gpu-jobs/runtime/models.ts";
import { createSession } from "../gpu-jobs/runtime/session.ts";

/** FLOPs of the TF-layout generator at cnum=32 (2 x MACs, convolutions only). */
export const GFLOP_AT_32: Record<number, number> = { 256: 129.9, 512: 519.5 };

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function torchBench(
  ckpt: string,
  sizes: number[],
  runs: number,
  threads: number,
): Promise<{ sgemm_gflops: number; eager_ms: Record<string, number>; torch: string }> {
  return new Promise((res, rej) => {
    const p = spawn(
      PYTHON,
      ["-m", "model.bench", "--ckpt", ckpt, "--sizes", sizes.join(","), "--runs", String(runs), "--threads", String(threads)],
      { cwd: GPU_JOBS, stdio: ["ignore", "pipe", "inherit"] },
    );
    let out = "";
    p.stdout.on("data", (d) => {
      out += d;
    });
    p.on("error", rej);
    p.on("exit", (code) =>
      code === 0 ? res(JSON.parse(out.trim().split("\n").pop() ?? "{}")) : rej(new Error(`model.bench exited ${code}`)),
    );
  });
}

export async function benchCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: "string", default: "5" },
      threads: { type: "string", default: "2" },
      sizes: { type: "string", default: "256,512" },
    },
  });
  const runs = Number(values.runs);
  const threads = Number(values.threads);
  const sizes = values.sizes.split(",").map(Number);
  const model = resolveModel();
  const session = await createSession(model.path, { threads });
  const ort: Record<number, number> = {};
  for (const s of sizes) {
    const image = new Float32Array(3 * s * s).map((_, i) => Math.sin(i) * 0.9);
    const mask = new Float32Array(s * s);
    for (let y = s / 4; y < (3 * s) / 4; y++) mask.fill(1, y * s + s / 4, y * s + (3 * s) / 4);
    await session.run(image, mask, s, s); // warm-up
    const t: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await session.run(image, mask, s, s);
      t.push(performance.now() - t0);
    }
    ort[s] = median(t);
  }
  await session.release();
  const py = await torchBench(resolve(GPU_JOBS, "models/checkpoints/gmcnn-gen.pt"), sizes, runs, threads);
  const cnum = model.manifest.architecture.cnum;
  console.log(
    `machine: ${cpus()[0].model}, ${cpus().length} cores; ${threads} threads; model ${model.manifest.name}@${model.manifest.version} (cnum ${cnum})`,
  );
  console.log(`sgemm: ${py.sgemm_gflops} GFLOP/s (PyTorch ${py.torch}); median of ${runs} runs\n`);
  console.log("| size | onnxruntime-node (ms) | PyTorch eager (ms) | eager / ORT | ORT share of FLOP floor |");
  console.log("|---|---|---|---|---|");
  for (const s of sizes) {
    const e = py.eager_ms[String(s)];
    const gflop = (GFLOP_AT_32[s] ?? (GFLOP_AT_32[256] * (s * s)) / (256 * 256)) * (cnum === 32 ? 1 : (cnum / 32) ** 2);
    const floorMs = (gflop / py.sgemm_gflops) * 1000;
    console.log(
      `| ${s}x${s} | ${ort[s].toFixed(0)} | ${e.toFixed(0)} | ${(e / ort[s]).toFixed(2)} | ${((floorMs / ort[s]) * 100).toFixed(0)}% |`,
    );
  }
  return 0;
}
