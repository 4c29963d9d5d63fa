/**
 * Vitest globalSetup (Node): the GPU stand-in server, the webhook receiver, input servers whose
 * bodies break mid-read and a port nothing listens on.
 */
import { createServer } from "node:net";
import type { TestProject } from "vitest/node";
import { startBrokenInputs } from "./broken-inputs.ts";
import { startStandIn } from "./gpu-stand-in.ts";
import { startReceiver } from "./receiver.ts";

declare module "vitest" {
  export interface ProvidedContext {
    gpuUrl: string;
    deadGpuUrl: string;
    receiverUrl: string;
    /** test/workers/node/broken-inputs.ts: bodies that break while they are read. */
    brokenInputsUrl: string;
    /** Property runs and seed for test/workers/fuzz.test.ts (FUZZ_RUNS, FUZZ_SEED; `npm run reliability` raises them). */
    fuzz: { runs: number; seed: number };
  }
}

async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address() as { port: number };
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export default async function setup(project: TestProject) {
  const standIn = await startStandIn();
  project.provide("gpuUrl", standIn.url);
  project.provide("deadGpuUrl", `http://127.0.0.1:${await closedPort()}`);
  const receiver = await startReceiver();
  project.provide("receiverUrl", receiver.url);
  const broken = await startBrokenInputs();
  project.provide("brokenInputsUrl", broken.url);
  project.provide("fuzz", { runs: Number(process.env.FUZZ_RUNS) || 200, seed: Number(process.env.FUZZ_SEED) || 20261210 });
  return async () => {
    await Promise.all([standIn.close(), receiver.close(), broken.close()]);
  };
}
