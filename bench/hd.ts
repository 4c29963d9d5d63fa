/**
 * `npm run bench:hd`: a 4000x3000 photo with a thin stroke through the local stack (wrangler dev
 * + the GPU function server with the shipped model), in one run:
 *   1. hd_strategy crop vs resize vs original: time per request and PSNR of the hole pixels
 *      against the untouched photo (the model must invent them; higher = closer);
 *   2. cache hits: p50 / p99 latency over 200 requests, and requests/s at concurrency 8.
 * The stack runs with MAX_MEGAPIXELS=12 (local workerd has no 128 MB limit; see docs/api.md) and
 * long GPU timeouts, since `original` runs the model on all 12 MP on a CPU.
 *
 * `original` on 12 MP needs more than 20 GB of RAM in ONNX Runtime on a CPU (on a 23 GiB machine
 * the kernel OOM-killed the GPU server at 20 GB RSS), so it runs by default only with >= 48 GiB of
 * RAM; otherwise its time is extrapolated from `resize` (same model, time per working pixel) and
 * printed as such.
 *
 * Options: --crop-n 3 --resize-n 1 --original-n N (0 skips; default 1 with >= 48 GiB RAM, else 0)
 * --hits 200 --rps-n 400.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { decodeImage, encodeImage } from "../gpu-jobs/codecs.ts";
import { ROOT, startStack } from "../scripts/stack.ts";
import { holePsnr } from "../shared/imaging/metrics.ts";
import { rasterizeShapes } from "../shared/imaging/rasterize.ts";
import { resizeImage } from "../shared/imaging/resize.ts";
import type { RgbaImage } from "../shared/imaging/types.ts";
import type { MaskShapes } from "../shared/schemas/shapes.ts";
import { send } from "../test/e2e/http.ts";
import { photo } from "../test/e2e/images.ts";

const { values: args } = parseArgs({
  options: {
    "crop-n": { type: "string", default: "3" },
    "resize-n": { type: "string", default: "1" },
    "original-n": { type: "string", default: totalmem() >= 48 * 2 ** 30 ? "1" : "0" },
    hits: { type: "string", default: "200" },
    "rps-n": { type: "string", default: "400" },
  },
});
const W = 4000;
const H = 3000;
const LONG_MS = "1800000";
/** A thin power line: 6 px wide, ~1100 px long. */
const SHAPES: MaskShapes = {
  shapes: [
    {
      type: "stroke",
      points: [
        [1200, 900],
        [1700, 1000],
        [2300, 1080],
      ],
      width: 6,
    },
  ],
};

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

async function benchPhoto(): Promise<{ image: RgbaImage; source: string }> {
  const path = join(ROOT, "examples/coffee.png");
  if (existsSync(path))
    return { image: resizeImage((await decodeImage(readFileSync(path), "coffee")).image, W, H), source: "examples/coffee.png" };
  return { image: photo(W, H), source: "synthetic" };
}

async function main(): Promise<void> {
  const { image, source } = await benchPhoto();
  const jpg = await encodeImage(image, "jpeg", 92);
  const ref = (await decodeImage(jpg, "input")).image; // the untouched photo, as the edge decodes it
  const hole = rasterizeShapes(SHAPES.shapes, W, H).data;
  const holePx = hole.reduce((a, b) => a + b, 0);

  console.log("starting the local stack ...");
  const stack = await startStack({
    // A benchmark is not a customer: lift the per-key rate limit so 200 cache hits can run.
    vars: { MAX_MEGAPIXELS: "12", GPU_TIMEOUT_MS: LONG_MS, RATE_LIMIT_REQUESTS: "1000000" },
    gpuEnv: { GMCNN_LOG: "0", GMCNN_TIMEOUT_MS: LONG_MS },
    log: () => {},
  });
  const auth = { Authorization: `Bearer ${stack.apiKey}` };
  try {
    const up = new FormData();
    up.append("file", new Blob([jpg as Uint8Array<ArrayBuffer>]), "photo.jpg");
    const { id } = (await (await send(`${stack.edgeUrl}/v1/uploads`, { body: up, headers: auth })).json()) as { id: string };
    // PNG out for the strategies (the hole PSNR must not include JPEG re-encoding); the cache
    // hits use the default output (JPEG for a JPEG, what a customer gets back).
    const form = (fields: Record<string, string>) => {
      const f = new FormData();
      f.append("image_id", id);
      f.append("mask_shapes", JSON.stringify(SHAPES));
      for (const [k, v] of Object.entries(fields)) f.append(k, v);
      return f;
    };
    const inpaint = async (fields: Record<string, string>, headers: Record<string, string> = {}) => {
      const t = performance.now();
      const res = await send(`${stack.edgeUrl}/v1/inpaint`, { body: form(fields), headers: { ...auth, ...headers } });
      const bytes = new Uint8Array(await res.arrayBuffer());
      const ms = performance.now() - t;
      if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${new TextDecoder().decode(bytes)}`);
      return { ms, bytes, res };
    };

    // 1. Strategies (no-store: every request runs the pipeline and the model).
    const strategies: Record<string, { n: number; ms: number[]; psnr: number; regions: string; work: string }> = {};
    await inpaint({ hd_strategy: "crop", output_format: "png" }, { "Cache-Control": "no-store" }); // warm-up: codecs, first ONNX run
    for (const [name, n] of [
      ["crop", Number(args["crop-n"])],
      ["resize", Number(args["resize-n"])],
      ["original", Number(args["original-n"])],
    ] as const) {
      if (n <= 0) continue;
      const ms: number[] = [];
      let last: Awaited<ReturnType<typeof inpaint>> | undefined;
      for (let i = 0; i < n; i++) {
        process.stdout.write(`\r${name}: request ${i + 1}/${n} ...`);
        last = await inpaint({ hd_strategy: name, output_format: "png" }, { "Cache-Control": "no-store" });
        ms.push(last.ms);
      }
      const out = (await decodeImage(last!.bytes, "output")).image;
      strategies[name] = {
        n,
        ms,
        psnr: holePsnr(out, ref, hole),
        regions: last!.res.headers.get("x-inpaint-regions") ?? "?",
        work: last!.res.headers.get("server-timing") ?? "",
      };
      console.log(`\r${name}: median ${pct(ms, 50).toFixed(0)} ms, hole PSNR ${strategies[name].psnr.toFixed(2)} dB`);
    }

    // 2. Cache hits: one miss stores the result, then the same request again and again.
    const hitBytes = (await inpaint({ hd_strategy: "crop" })).bytes.length;
    const hits: number[] = [];
    const N = Number(args.hits);
    for (let i = 0; i < N; i++) {
      const r = await inpaint({ hd_strategy: "crop" });
      if (r.res.headers.get("x-cache") !== "HIT") throw new Error(`expected a cache hit, got ${r.res.headers.get("x-cache")}`);
      hits.push(r.ms);
    }
    const RPS_N = Number(args["rps-n"]);
    let next = 0;
    const t = performance.now();
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next++ < RPS_N) await inpaint({ hd_strategy: "crop" });
      }),
    );
    const rps = RPS_N / ((performance.now() - t) / 1000);

    const cpu = cpus();
    const machine = `${cpu[0]?.model ?? "unknown CPU"}, ${cpu.length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB`;
    const med = (k: string) => (strategies[k] ? pct(strategies[k].ms, 50) : Number.NaN);
    console.log(
      `\nHD benchmark: ${W}x${H} JPEG (${source}), one stroke of ${holePx} px (${((100 * holePx) / (W * H)).toFixed(3)}%)`,
    );
    console.log(
      `machine: ${machine}; GPU function: ${stack.gpu.model?.name}@${stack.gpu.model?.version} on ${stack.gpu.provider}`,
    );
    for (const [k, s] of Object.entries(strategies))
      console.log(
        `  ${k.padEnd(9)} median ${med(k).toFixed(0).padStart(8)} ms  (n=${s.n})  hole PSNR ${s.psnr.toFixed(2).padStart(6)} dB  regions ${s.regions}`,
      );
    // Without a measured `original`: resize's time per working pixel, times 12 MP (labelled as such).
    const measured = Number.isFinite(med("original"));
    const originalMs = measured ? med("original") : (med("resize") * (W * H)) / (1280 * 960);
    if (!measured)
      console.log(
        `  original  ~${originalMs.toFixed(0).padStart(7)} ms  EXTRAPOLATED from resize (not run: needs > 20 GB RAM on CPU; this machine has ${(totalmem() / 2 ** 30).toFixed(0)} GiB)`,
      );
    const speedup = originalMs / med("crop");
    const sharpest = Object.entries(strategies).every(([k, s]) => k === "crop" || s.psnr <= strategies.crop.psnr);
    const fastest = Object.keys(strategies).every((k) => med(k) >= med("crop"));
    console.log(
      `  crop vs original: ${speedup.toFixed(1)}x faster${measured ? "" : " (extrapolated)"} (target >= 5x: ${speedup >= 5 ? "met" : "NOT met"}); fastest: ${fastest}; sharpest: ${sharpest}`,
    );
    const p50 = pct(hits, 50);
    const p99 = pct(hits, 99);
    console.log(
      `  cache hit  p50 ${p50.toFixed(2)} ms  p99 ${p99.toFixed(2)} ms  (n=${N}, ${(hitBytes / 2 ** 20).toFixed(1)} MiB JPEG body, image_id + mask_shapes; target p50 < 10 ms: ${p50 < 10 ? "met" : "NOT met"})`,
    );
    console.log(`  cache hits at concurrency 8: ${rps.toFixed(0)} requests/s (${RPS_N} requests)`);
    mkdirSync(join(ROOT, "out"), { recursive: true });
    const report = {
      machine,
      size: [W, H],
      source,
      hole_px: holePx,
      strategies,
      original_ms: originalMs,
      original_measured: measured,
      speedup,
      fastest,
      sharpest,
      cache_hit: { p50, p99, n: N, rps_c8: rps, body_bytes: hitBytes },
    };
    writeFileSync(join(ROOT, "out/bench-hd.json"), `${JSON.stringify(report, null, 2)}\n`);
    console.log("wrote out/bench-hd.json");
  } finally {
    await stack.stop();
  }
}

await main();
