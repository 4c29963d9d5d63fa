/** Commands that run the Python side (Debian's system interpreter, which has PyTorch). */
import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { GPU_JOBS, PYTHON } from "../runtime/python.ts";

export { GPU_JOBS, PYTHON };

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
