/**
 * `npm run bench:edge`: a 1024x768 photo with a hole of ~10% through the local stack (wrangler dev
 * + the GPU function server), 20 requests one after another: the edge's own stages (decode, mask,
 * preprocessing + composite, encode; from Server-Timing) against the GPU function's (queue,
 * inference; from the protocol's timing header), medians, the edge's share of the request, then
 * requests per second at concurrency 1 and 4.
 *
 * Options: --n 20 --rps-n 8 --format png|jpeg; --edge URL --key KEY to measure a running stack.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { decodeImage, encodeImage } from "../gpu-jobs/codecs.ts";
import { ROOT, type Stack, startStack } from "../scripts/stack.ts";
import { resizeImage } from "../shared/imaging/resize.ts";
import type { RgbaImage } from "../shared/imaging/types.ts";
import { send } from "../test/e2e/http.ts";
import { inpaintForm, maskImage, photo } from "../test/e2e/images.ts";

const { values: args } = parseArgs({
  options: {
    n: { type: "string", default: "20" },
    "rps-n": { type: "string", default: "8" },
    format: { type: "string", default: "png" },
    edge: { type: "string" },
    key: { type: "string" },
  },
});
const N = Number(args.n);
const RPS_N = Number(args["rps-n"]);
const FORMAT = args.format === "jpeg" ? "jpeg" : "png";
const W = 1024;
const H = 768;
const HOLE = { x: 380, y: 250, width: 280, height: 280 }; // 78400 px = 9.97% of 1024x768

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** The shipped example photo scaled to 1024x768 (a real photo compresses like one), else synthetic. */
async function benchPhoto(): Promise<{ image: RgbaImage; source: string }> {
  const path = join(ROOT, "examples/coffee.png");
  if (existsSync(path))
    return { image: resizeImage((await decodeImage(readFileSync(path), "coffee")).image, W, H), source: "examples/coffee.png" };
  return { image: photo(W, H), source: "synthetic" };
}

const timing = (header: string | null): Record<string, number> =>
  Object.fromEntries(
    (header ?? "")
      .split(",")
      .map((p) => /^\s*([\w-]+);dur=([\d.]+)/.exec(p))
      .filter((m) => m !== null)
      .map((m) => [m[1], Number(m[2])]),
  );

async function main(): Promise<void> {
  const { image, source } = await benchPhoto();
  const imageBytes = await encodeImage(image, FORMAT, 90);
  const maskBytes = await encodeImage(maskImage(W, H, HOLE), "png");

  let stack: Stack | undefined;
  let edgeUrl = args.edge;
  let key = args.key ?? process.env.GMCNN_DEV_API_KEY ?? "";
  if (!edgeUrl) {
    console.log("starting the local stack ...");
    stack = await startStack({ gpuEnv: { GMCNN_LOG: "0" }, vars: { RATE_LIMIT_REQUESTS: "1000000" }, log: () => {} });
    edgeUrl = stack.edgeUrl;
    key = stack.apiKey;
  }
  const call = async () => {
    const t = performance.now();
    const res = await send(`${edgeUrl}/v1/inpaint`, {
      body: inpaintForm(imageBytes, maskBytes),
      // no-store: measure the full path every time, not the result cache
      headers: { Authorization: `Bearer ${key}`, "Cache-Control": "no-store" },
    });
    const body = await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${new TextDecoder().decode(body)}`);
    return {
      wall: performance.now() - t,
      st: timing(res.headers.get("server-timing")),
      provider: res.headers.get("x-gpu-provider"),
    };
  };

  try {
    await call(); // warm-up: codec instantiation, the first ONNX Runtime run
    const runs: Awaited<ReturnType<typeof call>>[] = [];
    for (let i = 0; i < N; i++) {
      runs.push(await call());
      process.stdout.write(`\r${i + 1}/${N} requests`);
    }
    console.log();

    const m = (f: (r: (typeof runs)[number]) => number) => median(runs.map(f));
    const row = {
      decode_ms: m((r) => (r.st.read ?? 0) + (r.st.mask ?? 0) + (r.st.decode ?? 0)),
      preprocess_composite_ms: m((r) => (r.st.plan ?? 0) + (r.st.infer ?? 0) + (r.st["post-process"] ?? 0) - (r.st.gpu ?? 0)),
      encode_ms: m((r) => r.st.encode ?? 0),
      edge_ms: m((r) => r.st.edge ?? 0),
      gpu_call_ms: m((r) => r.st.gpu ?? 0),
      gpu_queue_ms: m((r) => r.st["gpu-queue"] ?? 0),
      gpu_inference_ms: m((r) => r.st["gpu-inference"] ?? 0),
      gpu_transfer_ms: m((r) => (r.st.gpu ?? 0) - (r.st["gpu-queue"] ?? 0) - (r.st["gpu-inference"] ?? 0)),
      edge_total_ms: m((r) => r.st.total ?? 0),
      client_wall_ms: m((r) => r.wall),
    };
    const edgeShare = row.edge_ms / row.edge_total_ms;

    const rps: Record<string, number> = {};
    for (const c of [1, 4]) {
      let next = 0;
      const t = performance.now();
      await Promise.all(
        Array.from({ length: c }, async () => {
          while (next++ < RPS_N) await call();
        }),
      );
      rps[`c${c}`] = RPS_N / ((performance.now() - t) / 1000);
      console.log(`concurrency ${c}: ${RPS_N} requests, ${rps[`c${c}`].toFixed(3)} req/s`);
    }

    const cpu = cpus();
    const machine = `${cpu[0]?.model ?? "unknown CPU"}, ${cpu.length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB`;
    console.log(
      `\nedge benchmark: ${W}x${H} ${FORMAT.toUpperCase()} (${source}), hole ${HOLE.width}x${HOLE.height} (${((100 * HOLE.width * HOLE.height) / (W * H)).toFixed(1)}%), median of ${N}`,
    );
    console.log(`machine: ${machine}; GPU function provider: ${runs[0]?.provider ?? "?"}`);
    for (const [k, v] of Object.entries(row)) console.log(`  ${k.padEnd(26)} ${v.toFixed(1).padStart(9)}`);
    console.log(
      `  edge share of the request  ${(100 * edgeShare).toFixed(1).padStart(8)}%   (target < 10%: ${edgeShare < 0.1 ? "met" : "NOT met"})`,
    );
    console.log(`  requests/s                 c=1 ${rps.c1.toFixed(3)}   c=4 ${rps.c4.toFixed(3)}`);
    mkdirSync(join(ROOT, "out"), { recursive: true });
    const report = { machine, format: FORMAT, size: [W, H], hole: HOLE, source, n: N, medians: row, edge_share: edgeShare, rps };
    writeFileSync(join(ROOT, "out/bench-edge.json"), `${JSON.stringify(report, null, 2)}\n`);
    console.log("wrote out/bench-edge.json");
  } finally {
    await stack?.stop();
  }
}

await main();
