/**
 * `npm run bench:jobs`: what the async path costs over the synchronous one, through the local
 * stack (wrangler dev with its local Queues + the GPU function server). Per round, one image
 * (its own pixels, so no cache hit) three ways: POST /v1/inpaint; POST /v1/jobs with
 * `Prefer: wait=60` then GET the result; POST /v1/jobs with a webhook to a receiver on 127.0.0.1,
 * timed until the signed `job.completed` delivery arrives. Medians and the ratios to the sync call.
 *
 * Options: --n 8 --size 256
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { cpus, totalmem } from "node:os";
import { parseArgs } from "node:util";
import { encodeImage } from "../gpu-jobs/codecs.ts";
import { startStack } from "../scripts/stack.ts";
import { send } from "../test/e2e/http.ts";
import { inpaintForm, maskImage, photo } from "../test/e2e/images.ts";

const { values: args } = parseArgs({
  options: { n: { type: "string", default: "8" }, size: { type: "string", default: "256" } },
});
const N = Number(args.n);
const W = Number(args.size);
const H = Math.round((W * 3) / 4);
const HOLE = { x: Math.round(W * 0.4), y: Math.round(H * 0.35), width: Math.round(W / 5), height: Math.round(H / 5) };

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main(): Promise<void> {
  // The receiver resolves the waiter of the job a delivery names.
  const waiting = new Map<string, () => void>();
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { type: string; data: { id: string } };
      if (body.type === "job.completed") waiting.get(body.data.id)?.();
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  const stack = await startStack({ gpuEnv: { GMCNN_LOG: "0" } });
  const key = { Authorization: `Bearer ${stack.apiKey}` };
  const mask = await encodeImage(maskImage(W, H, HOLE), "png");
  let round = 0;
  const image = async () => {
    const img = photo(W, H);
    // Pixels of its own (this round, this run): no result cache hit, here or from an earlier run.
    img.data.set([round % 256, ...crypto.getRandomValues(new Uint8Array(2))], 0);
    round++;
    return encodeImage(img, "png");
  };
  const times = { sync: [] as number[], wait: [] as number[], webhook: [] as number[] };
  try {
    for (let i = 0; i < N + 1; i++) {
      let t = performance.now();
      const s = await send(`${stack.edgeUrl}/v1/inpaint`, { body: inpaintForm(await image(), mask), headers: key });
      if (s.status !== 200) throw new Error(`sync: HTTP ${s.status}`);
      const sync = performance.now() - t;

      t = performance.now();
      const w = await send(`${stack.edgeUrl}/v1/jobs`, {
        body: inpaintForm(await image(), mask),
        headers: { ...key, Prefer: "wait=60" },
      });
      const job = (await w.json()) as { status: string; output: { url: string } };
      if (job.status !== "succeeded") throw new Error(`job ${job.status}`);
      if ((await send(job.output.url)).status !== 200) throw new Error("result download failed");
      const wait = performance.now() - t;

      const f = inpaintForm(await image(), mask);
      f.append("webhook", hook);
      t = performance.now();
      const created = (await (await send(`${stack.edgeUrl}/v1/jobs`, { body: f, headers: key })).json()) as { id: string };
      await new Promise<void>((resolve, reject) => {
        waiting.set(created.id, resolve);
        setTimeout(() => reject(new Error("no webhook within 120 s")), 120_000).unref();
      });
      const webhook = performance.now() - t;
      if (i === 0) continue; // warm-up: model load, first queue batch
      times.sync.push(sync);
      times.wait.push(wait);
      times.webhook.push(webhook);
    }
  } finally {
    await stack.stop();
    receiver.close();
  }
  const sync = median(times.sync);
  console.log(
    `machine: ${cpus()[0]?.model ?? "?"}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; CPU inference; ${W}x${H} PNG, ${N} rounds`,
  );
  console.log("| path | median ms | vs sync |");
  console.log("| --- | ---: | ---: |");
  for (const [name, xs] of [
    ["POST /v1/inpaint (sync)", times.sync],
    ["POST /v1/jobs, Prefer: wait + GET result", times.wait],
    ["POST /v1/jobs -> signed webhook received", times.webhook],
  ] as const)
    console.log(`| ${name} | ${median(xs).toFixed(0)} | ${(median(xs) / sync).toFixed(2)}x |`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
