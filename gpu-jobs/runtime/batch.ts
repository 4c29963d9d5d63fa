/**
 * ONNX Runtime over a folder of prepared inputs, for the Python tools that cannot load ONNX
 * Runtime themselves (Debian has no python3-onnxruntime): model/quantize.py calibrates with
 * `ranges` and measures a variant's accuracy with `run`.
 *
 *   tsx gpu-jobs/runtime/batch.ts ranges MODEL CASES NAMES_JSON OUT_JSON   min/max of named tensors over all cases
 *   tsx gpu-jobs/runtime/batch.ts run MODEL OUT_DIR CASES...               writes OUT_DIR/<k>/<i>-output.bin,
 *                                                                          k = the index of CASES
 *   tsx gpu-jobs/runtime/batch.ts providers                                JSON list of installed providers
 *   tsx gpu-jobs/runtime/batch.ts time MODEL PROVIDER SIZES BATCHES RUNS BUDGET_S
 *       median ms per SIZExBATCH on synthetic inputs (the GPU benchmark where Python has no onnxruntime)
 *
 * CASES holds cases.json ([{ i, h, w }]) and <i>-image.bin / <i>-mask.bin: float32 little-endian
 * NCHW, the model's inputs (the layout model/export.py writes for the parity test).
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { installedProviders } from "./session.ts";

interface Case {
  i: number;
  h: number;
  w: number;
}

const f32 = (path: string) => {
  const b = readFileSync(path);
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
};

function feeds(dir: string, c: Case): Record<string, ort.Tensor> {
  return {
    image: new ort.Tensor("float32", f32(join(dir, `${c.i}-image.bin`)), [1, 3, c.h, c.w]),
    mask: new ort.Tensor("float32", f32(join(dir, `${c.i}-mask.bin`)), [1, 1, c.h, c.w]),
  };
}

const session = (model: string) =>
  ort.InferenceSession.create(model, {
    executionProviders: ["cpu"],
    graphOptimizationLevel: "all",
    ...(Number(process.env.GMCNN_THREADS) ? { intraOpNumThreads: Number(process.env.GMCNN_THREADS) } : {}),
  });

async function ranges(model: string, dir: string, namesFile: string, out: string): Promise<void> {
  const names: string[] = JSON.parse(readFileSync(namesFile, "utf8"));
  const cases: Case[] = JSON.parse(readFileSync(join(dir, "cases.json"), "utf8"));
  const s = await session(model);
  const acc: Record<string, [number, number]> = {};
  for (const c of cases) {
    const res = await s.run(feeds(dir, c), names);
    for (const n of names) {
      const d = res[n].data as Float32Array;
      let lo = Number.POSITIVE_INFINITY;
      let hi = Number.NEGATIVE_INFINITY;
      for (let k = 0; k < d.length; k++) {
        const v = d[k];
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      const a = acc[n] ?? [lo, hi];
      acc[n] = [Math.min(a[0], lo), Math.max(a[1], hi)];
    }
  }
  await s.release();
  writeFileSync(out, JSON.stringify(acc));
}

async function run(model: string, out: string, dirs: string[]): Promise<void> {
  const s = await session(model);
  for (const [k, dir] of dirs.entries()) {
    const cases: Case[] = JSON.parse(readFileSync(join(dir, "cases.json"), "utf8"));
    mkdirSync(join(out, String(k)), { recursive: true });
    for (const c of cases) {
      const res = await s.run(feeds(dir, c));
      const d = res.output.data as Float32Array;
      writeFileSync(join(out, String(k), `${c.i}-output.bin`), new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
    }
  }
  await s.release();
}

async function time(model: string, provider: string, sizes: number[], batches: number[], runs: number, budgetS: number) {
  const deadline = performance.now() + budgetS * 1000;
  const s = await ort.InferenceSession.create(model, {
    executionProviders: [provider],
    graphOptimizationLevel: "all",
    ...(Number(process.env.GMCNN_THREADS) ? { intraOpNumThreads: Number(process.env.GMCNN_THREADS) } : {}),
  });
  const out: Record<string, number> = {};
  for (const size of sizes)
    for (const n of batches) {
      if (performance.now() > deadline) continue;
      const plane = size * size;
      const image = new Float32Array(n * 3 * plane).map((_, i) => Math.sin(i) * 0.9);
      const mask = new Float32Array(n * plane);
      for (let b = 0; b < n; b++)
        for (let y = size / 4; y < (3 * size) / 4; y++)
          mask.fill(1, b * plane + y * size + size / 4, b * plane + y * size + (3 * size) / 4);
      const feeds = {
        image: new ort.Tensor("float32", image, [n, 3, size, size]),
        mask: new ort.Tensor("float32", mask, [n, 1, size, size]),
      };
      await s.run(feeds);
      const t: number[] = [];
      for (let r = 0; r < runs; r++) {
        const t0 = performance.now();
        await s.run(feeds);
        t.push(performance.now() - t0);
      }
      t.sort((a, b) => a - b);
      out[`${size}x${n}`] = Math.round(t[Math.floor(t.length / 2)] * 100) / 100;
    }
  await s.release();
  console.log(JSON.stringify(out));
}

const ints = (s: string) => s.split(",").map(Number);
const [cmd, ...args] = process.argv.slice(2);
if (cmd === "ranges" && args.length === 4) await ranges(args[0], args[1], args[2], args[3]);
else if (cmd === "run" && args.length >= 3) await run(args[0], args[1], args.slice(2));
else if (cmd === "providers") console.log(JSON.stringify(installedProviders()));
else if (cmd === "time" && args.length === 6)
  await time(args[0], args[1], ints(args[2]), ints(args[3]), Number(args[4]), Number(args[5]));
else {
  console.error("usage: batch.ts ranges MODEL CASES NAMES_JSON OUT_JSON | run MODEL OUT_DIR CASES... | providers | time ...");
  process.exit(2);
}
