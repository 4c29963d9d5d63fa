/**
 * A model session run by PyTorch (gpu-jobs/model/serve_torch.py) in a child process: the same
 * inputs and outputs as an ONNX Runtime session, for CPUs where PyTorch's bf16 path (oneDNN on
 * AVX512-BF16 or AMX) is faster. Frames over stdin/stdout, one request at a time.
 */
import { type ChildProcessByStdio, spawn } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { GPU_JOBS, PYTHON } from "./python.ts";

const OK = 0;
const READY = 2;

export interface TorchProcess {
  /** What serve_torch.py reported at start: torch version, precision, threads. */
  info: { torch: string; precision: string; threads: number };
  run(image: Float32Array, mask: Float32Array, width: number, height: number): Promise<Float32Array>;
  release(): Promise<void>;
}

/** Reads [status u32][length u32][payload] frames from a stream, in order. */
class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  private waiting: { resolve: (f: { status: number; payload: Buffer }) => void; reject: (e: Error) => void }[] = [];
  private failed?: Error;

  constructor(stream: Readable) {
    stream.on("data", (d: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      this.drain();
    });
  }

  fail(e: Error): void {
    this.failed = e;
    for (const w of this.waiting.splice(0)) w.reject(e);
  }

  next(): Promise<{ status: number; payload: Buffer }> {
    if (this.failed) return Promise.reject(this.failed);
    const p = new Promise<{ status: number; payload: Buffer }>((resolve, reject) => this.waiting.push({ resolve, reject }));
    this.drain();
    return p;
  }

  private drain(): void {
    while (this.waiting.length && this.buf.length >= 8) {
      const len = this.buf.readUInt32LE(4);
      if (this.buf.length < 8 + len) return;
      const frame = { status: this.buf.readUInt32LE(0), payload: Buffer.from(this.buf.subarray(8, 8 + len)) };
      this.buf = this.buf.subarray(8 + len);
      this.waiting.shift()?.resolve(frame);
    }
  }
}

export async function startTorchProcess(
  modelPath: string,
  o: { precision: "bf16" | "fp32"; threads?: number },
): Promise<TorchProcess> {
  const args = ["-m", "model.serve_torch", "--model", modelPath, "--precision", o.precision];
  if (o.threads) args.push("--threads", String(o.threads));
  const child: ChildProcessByStdio<Writable, Readable, Readable> = spawn(PYTHON, args, {
    cwd: GPU_JOBS,
    stdio: ["pipe", "pipe", "pipe"],
    // OpenMP threads that spin while waiting make PyTorch ~11x slower when the cores are shared
    // (41 s vs 3.6 s at 192 px, measured); passive waiting costs ~5% on idle cores (2162 vs 2050 ms
    // at 512 px). An operator's own OMP_WAIT_POLICY wins.
    env: { OMP_WAIT_POLICY: "PASSIVE", ...process.env },
  });
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr = (stderr + d).slice(-2000);
  });
  const frames = new FrameReader(child.stdout);
  const died = (why: string) => new Error(`torch runner ${why}${stderr ? `: ${stderr.trim().split("\n").pop()}` : ""}`);
  child.on("error", (e) => frames.fail(died(`did not start (${e.message})`)));
  child.on("exit", (code, signal) => frames.fail(died(`exited (${signal ?? code})`)));
  child.stdin.on("error", () => {}); // a closed pipe shows as the exit above

  const first = await frames.next();
  if (first.status !== READY) {
    child.kill();
    throw new Error(first.payload.toString("utf8"));
  }
  const info = JSON.parse(first.payload.toString("utf8"));
  let chain: Promise<unknown> = Promise.resolve();

  async function once(image: Float32Array, mask: Float32Array, width: number, height: number): Promise<Float32Array> {
    const head = Buffer.alloc(8);
    head.writeUInt32LE(height, 0);
    head.writeUInt32LE(width, 4);
    child.stdin.write(head);
    child.stdin.write(Buffer.from(image.buffer, image.byteOffset, image.byteLength));
    child.stdin.write(Buffer.from(mask.buffer, mask.byteOffset, mask.byteLength));
    const f = await frames.next();
    if (f.status !== OK) throw new Error(`torch runner: ${f.payload.toString("utf8")}`);
    // A fresh, aligned copy: the frame's bytes may sit at any offset.
    const out = new Float32Array(f.payload.byteLength / 4);
    new Uint8Array(out.buffer).set(f.payload);
    return out;
  }

  return {
    info,
    run(image, mask, width, height) {
      const p = chain.then(() => once(image, mask, width, height));
      chain = p.catch(() => {});
      return p;
    },
    async release() {
      if (child.exitCode !== null || child.signalCode) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.stdin.end(Buffer.alloc(8)); // h = w = 0: stop
      await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
    },
  };
}
