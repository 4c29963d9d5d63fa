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

/**
 * `gmcnn eval [--split val|test] [--model [NAME=]PATH] [--n N] [--json F]`: a model beside the
 * classical fills. Default: the shipped ONNX (named from its manifest), through the serving path.
 */
export function evalCommand(argv: string[]): Promise<number> {
  // Python runs in gpu-jobs/: paths the user typed are relative to where they typed them.
  const paths = new Set(["--json", "--images", "--data", "--cache"]);
  return runPython(
    "model.evaluate",
    argv.map((a, i) => (paths.has(argv[i - 1] ?? "") ? resolve(a) : a)),
  );
}
