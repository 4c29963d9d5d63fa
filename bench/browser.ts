/**
 * In-browser inference (onnxruntime-web in Debian's Chromium, WASM, threads as the page allows)
 * beside onnxruntime-node in this process, on the same machine, at 256x256 and 512x512: the bare
 * model run, median of N. Also the model's download size and time from the local stack (a fresh
 * browser profile, so nothing is cached). Prints the CPU and a table with ratios.
 */
import { cpus } from "node:os";
import { join } from "node:path";
import { createSession } from "../gpu-jobs/runtime/session.ts";
import { ROOT, startStack } from "../scripts/stack.ts";
import { launchChromium } from "../test/browser/chromium.ts";
import { modelFileName } from "../web/build.ts";

const RUNS = Number(process.env.BENCH_RUNS) || 5;
const SIZES = [256, 512];
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function input(w: number, h: number) {
  const image = new Float32Array(3 * w * h).map((_, i) => ((i * 7919) % 255) / 127.5 - 1);
  const mask = new Float32Array(w * h).map((_, i) => (i % w > w / 4 && i % w < w / 2 ? 1 : 0));
  return { image, mask };
}

async function main() {
  console.log(`CPU: ${cpus()[0]?.model} x ${cpus().length}; ${RUNS} runs per size, median`);
  const node = await createSession(join(ROOT, "gpu-jobs/models/gmcnn.onnx"), { runtime: "node", cuda: false });
  const nodeMs: Record<number, number> = {};
  for (const s of SIZES) {
    const { image, mask } = input(s, s);
    await node.run(image, mask, s, s); // warm-up
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t = performance.now();
      await node.run(image, mask, s, s);
      times.push(performance.now() - t);
    }
    nodeMs[s] = median(times);
  }
  await node.release();

  // The API's GPU side is not needed: only the static assets (the page, the runtime, the model).
  const stack = await startStack({ gpuUrl: "http://127.0.0.1:9", log: () => undefined });
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    // tsx compiles with keepNames: functions sent to the page call its __name helper.
    await page.addInitScript({ content: "globalThis.__name = (f) => f;" });
    // A blank, cross-origin-isolated page on the stack's origin (WASM threads need isolation).
    await page.route(`${stack.edgeUrl}/bench`, (r) =>
      r.fulfill({
        contentType: "text/html",
        headers: { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp" },
        body: "<!doctype html><title>bench</title>",
      }),
    );
    await page.goto(`${stack.edgeUrl}/bench`);
    const modelUrl = `${stack.edgeUrl}/widget/models/${modelFileName()}`;
    const r = await page.evaluate(
      async ({ sizes, runs, modelUrl }) => {
        const { LocalModel } = await import(`${location.origin}/widget/local.js`);
        const model = { bytes: 0, start: 0, end: 0 };
        const m = new LocalModel({
          assets: `${location.origin}/widget/`,
          modelUrl,
          onProgress: (p: { file: string; loaded: number; done: boolean }) => {
            if (p.file !== "model") return;
            model.start ||= performance.now();
            if (p.done) [model.bytes, model.end] = [p.loaded, performance.now()];
          },
        });
        const t0 = performance.now();
        const { backend } = await m.prepare();
        const readyMs = performance.now() - t0;
        const times: Record<number, number[]> = {};
        for (const s of sizes) {
          await m.time(s, s); // warm-up
          times[s] = [];
          for (let i = 0; i < runs; i++) times[s].push(await m.time(s, s));
        }
        return { backend, isolated: crossOriginIsolated, readyMs, model, times };
      },
      { sizes: SIZES, runs: RUNS, modelUrl },
    );
    const mib = r.model.bytes / 1048576;
    const s = (r.model.end - r.model.start) / 1000;
    console.log(
      `\nmodel download from the local stack: ${mib.toFixed(1)} MiB in ${s.toFixed(2)} s (${(mib / s).toFixed(0)} MiB/s, fresh profile)`,
    );
    console.log(
      `in-page runtime ready (runtime + model fetched, session created): ${(r.readyMs / 1000).toFixed(1)} s; backend ${r.backend}, cross-origin isolated: ${r.isolated}\n`,
    );
    console.log("| size | onnxruntime-node (CPU) | onnxruntime-web in Chromium | web / node |");
    console.log("|---|---|---|---|");
    for (const size of SIZES) {
      const web = median(r.times[size]);
      console.log(
        `| ${size}x${size} | ${nodeMs[size].toFixed(0)} ms | ${web.toFixed(0)} ms (${r.backend}) | ${(web / nodeMs[size]).toFixed(2)} |`,
      );
    }
  } finally {
    await browser.close();
    await stack.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
