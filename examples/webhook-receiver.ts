/**
 * A webhook receiver for trying jobs locally: verifies each delivery with the account's signing
 * secret (Standard Webhooks, the `standardwebhooks` package), prints it, and downloads a
 * succeeded job's result to out/<job id>.<ext>.
 *
 *   GMCNN_WEBHOOK_SECRET=whsec_... npx tsx examples/webhook-receiver.ts [port]   (default 9000)
 *
 * Get the secret with `curl -H "Authorization: Bearer $KEY" http://127.0.0.1:8787/v1/webhooks/default/secret`,
 * then submit a job with `-F webhook=http://127.0.0.1:9000/hook` (`npm start` allows local receivers).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { Webhook } from "standardwebhooks";

const secret = process.env.GMCNN_WEBHOOK_SECRET;
if (!secret?.startsWith("whsec_")) {
  console.error("set GMCNN_WEBHOOK_SECRET to your whsec_... secret (GET /v1/webhooks/default/secret)");
  process.exit(1);
}
const wh = new Webhook(secret);
const port = Number(process.argv[2] ?? 9000);
const EXT: Record<string, string> = { "image/png": "png", "image/jpeg": "jpg", "image/webp": "webp" };

createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", async () => {
    const body = Buffer.concat(chunks).toString("utf8");
    let event: {
      type: string;
      data: { id: string; status: string; error?: { detail?: string }; output?: { url: string; content_type: string } };
    };
    try {
      event = wh.verify(body, req.headers as Record<string, string>) as typeof event;
    } catch (e) {
      console.error(`refused a delivery: ${(e as Error).message}`);
      res.writeHead(401).end();
      return;
    }
    // Answer at once (a slow receiver is retried); dedupe on webhook-id in a real one.
    res.writeHead(204).end();
    const { id, status, output, error } = event.data;
    console.log(`${req.headers["webhook-id"]} ${event.type} ${id} ${status}${error?.detail ? `: ${error.detail}` : ""}`);
    if (status === "succeeded" && output) {
      const got = await fetch(output.url);
      mkdirSync("out", { recursive: true });
      const file = `out/${id}.${EXT[output.content_type] ?? "bin"}`;
      writeFileSync(file, Buffer.from(await got.arrayBuffer()));
      console.log(`  wrote ${file}`);
    }
  });
}).listen(port, "127.0.0.1", () => console.log(`listening on http://127.0.0.1:${port}/hook`));
