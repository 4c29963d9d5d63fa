/**
 * Worker-thread entry: owns the ONNX Runtime session. onnxruntime-node runs a session
 * synchronously on the calling thread, so running it here keeps the HTTP loop free to answer
 * health probes and to refuse work with 503 while a region is being inferred.
 */
import { parentPort, workerData } from "node:worker_threads";
import { inpaintRegion } from "../runtime/runner.ts";
import { createSession, type SessionOptions } from "../runtime/session.ts";
import type { ThreadReply, ThreadRequest } from "./threaded-runner.ts";

const { modelPath, options } = workerData as { modelPath: string; options: SessionOptions };
const port = parentPort!;
const reply = (m: ThreadReply, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

try {
  const session = await createSession(modelPath, options);
  port.on("message", async (m: ThreadRequest) => {
    if (m.type === "close") {
      await session.release();
      process.exit(0);
    }
    try {
      const image = { width: m.width, height: m.height, data: new Uint8ClampedArray(m.rgba) };
      const mask = { width: m.width, height: m.height, data: new Uint8Array(m.mask) };
      const out = await inpaintRegion(session, image, mask);
      const buf = out.data.buffer as ArrayBuffer;
      reply({ type: "result", id: m.id, rgba: buf }, [buf]);
    } catch (e) {
      reply({ type: "error", id: m.id, message: String((e as Error)?.message ?? e) });
    }
  });
  const { precision, threads, label, reason, file, measured } = session;
  reply({
    type: "ready",
    runtime: session.runtime,
    provider: session.provider,
    path: { precision, threads, label, reason, file, measured },
  });
} catch (e) {
  reply({ type: "failed", message: String((e as Error)?.message ?? e) });
}
