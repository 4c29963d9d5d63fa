/**
 * Body limits through the real local stack (`npm start`: wrangler dev, its proxy and workerd):
 * bodies over a route's limit, chunked (no Content-Length) or not, answer a clean 413, and the
 * next request is unaffected. Before workers/body-limit.ts drained a refused chunked body, the
 * request after a 413 hung for about a minute and large bodies ended in "503 Your worker
 * restarted mid-request" or a reset. No GPU is needed: every request here is refused first.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, type Stack, startStack } from "../../scripts/stack.ts";

let stack: Stack;
let persist: string;

beforeAll(async () => {
  persist = mkdtempSync(join(tmpdir(), "gmcnn-limits-"));
  stack = await startStack({ persistTo: persist, gpuUrl: `http://127.0.0.1:${await freePort()}`, log: () => {} });
}, 300_000);

afterAll(async () => {
  await stack?.stop();
  rmSync(persist, { recursive: true, force: true });
});

const MiB = 1024 * 1024;

/** POSTs `size` bytes in 64 KiB chunks, chunked or with a Content-Length; resolves with the answer. */
function post(path: string, size: number, headers: Record<string, string>, chunked: boolean) {
  return new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
    const h = { ...headers, ...(chunked ? { "transfer-encoding": "chunked" } : { "content-length": String(size) }) };
    const req = request(`${stack.edgeUrl}${path}`, { method: "POST", headers: h, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        body += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), body }));
      res.on("error", reject);
    });
    // A 413 may come before the whole body is written: the answer counts, not the EPIPE.
    req.on("error", (e: NodeJS.ErrnoException) => (e.code === "EPIPE" ? undefined : reject(e)));
    const chunk = Buffer.alloc(64 * 1024, 0x41);
    let sent = 0;
    const pump = () => {
      while (sent < size) {
        const n = Math.min(chunk.length, size - sent);
        sent += n;
        if (!req.write(chunk.subarray(0, n))) return void req.once("drain", pump);
      }
      req.end();
    };
    pump();
  });
}

/** GET /healthz on a new connection; a hang is cut off after 10 s (it used to last ~60 s). */
async function healthz(): Promise<number> {
  const r = await fetch(`${stack.edgeUrl}/healthz`, { signal: AbortSignal.timeout(10_000) });
  await r.arrayBuffer();
  return r.status;
}

describe("bodies over a route's limit", () => {
  const auth = () => ({ authorization: `Bearer ${stack.apiKey}`, "content-type": "multipart/form-data; boundary=xyz" });
  const cases = [
    { name: "41 MiB to /v1/inpaint", path: "/v1/inpaint", size: 41 * MiB, headers: auth },
    { name: "43 MiB to /v1/uploads", path: "/v1/uploads", size: 43 * MiB, headers: auth },
    {
      name: "100 KiB to the unauthenticated /v1/hooks/{name}",
      path: "/v1/hooks/anyone",
      size: 100 * 1024,
      headers: () => ({ "content-type": "application/json" }),
    },
  ];
  const variants = [...cases.map((c) => ({ ...c, chunked: true })), { ...cases[0], chunked: false }];
  for (const c of variants)
    it(`${c.name}, ${c.chunked ? "chunked" : "with a Content-Length"}: 413 problem, and the next requests answer`, async () => {
      const res = await post(c.path, c.size, c.headers(), c.chunked);
      expect(res.status).toBe(413);
      expect(res.type).toBe("application/problem+json");
      expect(JSON.parse(res.body)).toMatchObject({ status: 413, type: "https://gmcnn-edge.dev/problems/payload-too-large" });
      expect(await healthz()).toBe(200);
      expect(await healthz()).toBe(200);
    }, 120_000);
});
