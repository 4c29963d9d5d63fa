/**
 * The GPU side of the reliability runs: the real GPU function server (gpu-jobs/server, the
 * shipped ONNX model) as a process this script can SIGKILL, behind a fault proxy the edge calls
 * instead. The proxy passes everything through, or for POST /v1/infer: answers slowly, answers
 * garbage, answers a region of the wrong size, answers 503, or has the GPU process killed while
 * the request is in flight.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { decodeInferResponse, encodeInferResponse } from "../../shared/protocol.ts";
import { freePort, ROOT } from "../stack.ts";
import { sleep } from "./http.ts";

export interface GpuProcess {
  url: string;
  /** SIGKILL, as a crash would; resolves once the process is gone. */
  kill(): Promise<void>;
  /** Starts it again on the same port (after a kill); resolves when /readyz answers 200. */
  restart(): Promise<void>;
  pid(): number | undefined;
  stop(): Promise<void>;
}

async function waitReady(url: string, deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    try {
      const r = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) });
      if (r.ok) return;
    } catch {
      /* not yet */
    }
    await sleep(200);
  }
  throw new Error(`the GPU server at ${url} did not become ready`);
}

export async function startGpu(env: Record<string, string> = {}): Promise<GpuProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let p: ChildProcess | undefined;
  const launch = async () => {
    p = spawn(process.execPath, ["--import", "tsx", "gpu-jobs/server/main.ts"], {
      cwd: ROOT,
      env: { ...process.env, PORT: String(port), HOST: "127.0.0.1", GMCNN_LOG: "0", ...env },
      stdio: ["ignore", "ignore", "inherit"],
      detached: true,
    });
    await waitReady(url, Date.now() + 120_000);
  };
  const kill = async () => {
    const child = p;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once("exit", r));
    try {
      process.kill(-(child.pid as number), "SIGKILL");
    } catch {
      /* gone */
    }
    await gone;
  };
  process.once("exit", () => {
    try {
      if (p?.pid) process.kill(-p.pid, "SIGKILL");
    } catch {
      /* gone */
    }
  });
  await launch();
  return { url, kill, restart: launch, pid: () => p?.pid, stop: kill };
}

export type FaultMode = "pass" | "slow" | "garbage" | "wrong-size" | "503" | "kill";

export interface FaultProxy {
  url: string;
  mode: FaultMode;
  /** For `slow`: how long an answer is held back. */
  slowMs: number;
  /** POST /v1/infer requests seen, per mode. */
  seen: Record<FaultMode, number>;
  close(): Promise<void>;
}

/** A proxy to `gpu` whose POST /v1/infer misbehaves as `mode` says. */
export async function startFaultProxy(gpu: GpuProcess): Promise<FaultProxy> {
  const state: FaultProxy = {
    url: "",
    mode: "pass",
    slowMs: 0,
    seen: { pass: 0, slow: 0, garbage: 0, "wrong-size": 0, "503": 0, kill: 0 },
    close: async () => {},
  };
  const server: Server = createServer((req, res) => {
    const infer = req.method === "POST" && req.url?.startsWith("/v1/infer");
    const mode: FaultMode = infer ? state.mode : "pass";
    if (infer) state.seen[mode]++;
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      const body = Buffer.concat(chunks);
      if (mode === "garbage") {
        res.writeHead(200, { "content-type": "application/vnd.gmcnn.infer" });
        return res.end(Buffer.from(Array.from({ length: 64 + (body.length % 97) }, (_, i) => (i * 31 + body.length) % 256)));
      }
      if (mode === "503") {
        res.writeHead(503, { "content-type": "application/json", "retry-after": "1" });
        return res.end(JSON.stringify({ error: "overloaded (fault proxy)" }));
      }
      if (mode === "slow") await sleep(state.slowMs);
      // The process dies with this request in flight: it is forwarded to a dead server, and the
      // edge's connection is reset (a kill racing a fast inference could let the answer through).
      if (mode === "kill") await gpu.kill();
      const upstream = request(
        `${gpu.url}${req.url}`,
        { method: req.method, headers: { ...req.headers, host: new URL(gpu.url).host }, agent: false },
        (up) => {
          const parts: Buffer[] = [];
          up.on("data", (c: Buffer) => parts.push(c));
          up.on("end", () => {
            let out = Buffer.concat(parts);
            if (mode === "wrong-size" && up.statusCode === 200) {
              // A well-formed answer for a region one pixel wider than asked.
              const r = decodeInferResponse(new Uint8Array(out));
              const w = r.header.width + 1;
              const rgb = new Uint8Array(w * r.header.height * 3);
              out = Buffer.from(encodeInferResponse({ header: { ...r.header, width: w }, rgb }));
            }
            const headers = { ...up.headers, "content-length": String(out.length) };
            res.writeHead(up.statusCode ?? 502, headers);
            res.end(out);
          });
          up.on("error", () => res.destroy());
        },
      );
      // The GPU process died (or was killed) mid-request: the edge sees its connection reset.
      upstream.on("error", () => res.destroy());
      upstream.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () => new Promise<void>((r) => server.close(() => r()));
  return state;
}
