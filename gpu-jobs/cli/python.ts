/** Commands that run the Python side (Debian's system interpreter, which has PyTorch). */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const GPU_JOBS = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** Debian's interpreter: the first python3 on PATH may be a build without torch. */
export const PYTHON = process.env.GMCNN_PYTHON ?? (existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3");

export function runPython(module: string, args: string[]): Promise<number> {
  return new Promise((res, rej) => {
    const p = spawn(PYTHON, ["-m", module, ...args], { cwd: GPU_JOBS, stdio: "inherit" });
    p.on("error", rej);
    p.on("exit", (code, signal) => res(code ?? (signal ? 1 : 0)));
  });
}

/** `gmcnn eval [--n 100] [--json F]`: the shipped checkpoint beside the classical baselines. */
export async function evalCommand(argv: string[]): Promise<number> {
  const ckpt = resolve(GPU_JOBS, "models/checkpoints/gmcnn-gen.pt");
  const extra = argv.includes("--model") ? [] : ["--model", `gmcnn=${ckpt}`];
  return runPython("model.evaluate", [...extra, ...argv]);
}
