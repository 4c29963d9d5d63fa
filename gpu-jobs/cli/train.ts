/**
 * `gmcnn train`: the GMCNN trainer (gpu-jobs/model/train.py) here, or as a Modal job.
 *
 *   gmcnn train [--config F] [--steps N] [--resume] [--stage 2 --init CKPT --random-vgg] [...]
 *   gmcnn train --remote [--config F] [--run NAME] [--stage 1|2] [--init-run RUN] [--steps N] ...
 *   gmcnn train --status ID
 *   gmcnn train --cancel ID
 *
 * Local mode runs `python3 -m model.train` in gpu-jobs/ with this terminal (progress bar, Ctrl-C
 * stops it cleanly after saving last.pt); every flag is the trainer's own (`--help-trainer`).
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { parseArgs } from "node:util";
import { GPU_JOBS, PYTHON } from "./python.ts";

const USAGE = `gmcnn train [trainer flags]              train on this machine (python3 -m model.train)
  --config F         JSON config (e.g. gpu-jobs/configs/stage1-cpu.json, stage2-cpu.json)
  --steps N --resume --init CKPT --stage 2 --random-vgg --vgg-weights F ...   (see --help-trainer)
gmcnn train --remote [options]             spawn a training job on Modal, print its call id
  --config F  --run NAME  --stage 1|2  --init-run RUN | --init PATH  --steps N  --max-minutes M
  --random-vgg  --set key=value (repeatable)  --gpu L40S|A100-80GB|H100|...  --timeout-hours H
  --version X.Y.Z [--name gmcnn] [--eval-n 100]   export ONNX + manifest when training ends
gmcnn train --status ID                    poll a job (JSON on stdout; exit 1 if failed/cancelled/timed out)
gmcnn train --cancel ID                    cancel a job
Remote modes need MODAL_TOKEN_ID and MODAL_TOKEN_SECRET (or ~/.modal.toml).`;

/** Flags whose values are paths: made absolute against the caller's directory (or gpu-jobs/). */
const PATH_FLAGS = new Set(["--config", "--init", "--out", "--data", "--val", "--vgg-weights"]);

/** Trainer argv for local mode: path values resolved so that they work from gpu-jobs/. */
export function localTrainArgs(
  argv: string[],
  cwd: string = process.cwd(),
  exists: (p: string) => boolean = existsSync,
): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a, undefined];
    if (!PATH_FLAGS.has(flag)) {
      out.push(a === "--help-trainer" ? "--help" : a);
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    let p = value;
    if (p && !isAbsolute(p)) {
      const fromCwd = resolve(cwd, p);
      const fromGpuJobs = resolve(GPU_JOBS, p);
      // Inputs may be given relative to gpu-jobs/ (as the configs are); outputs go where the caller is.
      p = flag !== "--out" && !exists(fromCwd) && exists(fromGpuJobs) ? fromGpuJobs : fromCwd;
    }
    out.push(flag, p);
  }
  return out;
}

function runTrainer(args: string[]): Promise<number> {
  return new Promise((res, rej) => {
    const child = spawn(PYTHON, ["-m", "model.train", ...args], { cwd: GPU_JOBS, stdio: "inherit" });
    // The trainer gets Ctrl-C from the terminal itself and stops after saving: wait for it.
    const onSigint = () => {};
    const onSigterm = () => child.kill("SIGTERM");
    process.on("SIGINT", onSigint);
    process.on("SIGTERM", onSigterm);
    const done = () => {
      process.off("SIGINT", onSigint);
      process.off("SIGTERM", onSigterm);
    };
    child.on("error", (e) => {
      done();
      rej(new Error(`cannot start ${PYTHON}: ${e.message} (set GMCNN_PYTHON to an interpreter with PyTorch)`));
    });
    child.on("exit", (code, signal) => {
      done();
      res(code ?? (signal ? 1 : 0));
    });
  });
}

function parseScalar(v: string): number | string | boolean {
  if (v === "true" || v === "false") return v === "true";
  if (v.trim() !== "" && Number.isFinite(Number(v))) return Number(v);
  return v;
}

function intFlag(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new Error(`--${name} must be an integer`);
  return n;
}

function numFlag(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n)) throw new Error(`--${name} must be a number`);
  return n;
}

/** `--remote` flags -> launcher options (exported for tests). */
export function remoteOptions(argv: string[], cwd: string = process.cwd()) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      remote: { type: "boolean" },
      config: { type: "string" },
      run: { type: "string" },
      stage: { type: "string" },
      "init-run": { type: "string" },
      init: { type: "string" },
      steps: { type: "string" },
      "max-minutes": { type: "string" },
      "random-vgg": { type: "boolean" },
      set: { type: "string", multiple: true },
      gpu: { type: "string" },
      "timeout-hours": { type: "string" },
      version: { type: "string" },
      name: { type: "string" },
      "eval-n": { type: "string" },
    },
  });
  const config: Record<string, number | string | boolean> = {};
  for (const kv of values.set ?? []) {
    const at = kv.indexOf("=");
    if (at <= 0) throw new Error(`--set expects key=value, got "${kv}"`);
    config[kv.slice(0, at).replaceAll("-", "_")] = parseScalar(kv.slice(at + 1));
  }
  const stage = intFlag("stage", values.stage);
  if (stage !== undefined && stage !== 1 && stage !== 2) throw new Error("--stage must be 1 or 2");
  let configPath = values.config;
  if (configPath && !isAbsolute(configPath)) {
    const fromCwd = resolve(cwd, configPath);
    configPath = existsSync(fromCwd) ? fromCwd : resolve(GPU_JOBS, configPath);
  }
  return {
    configPath,
    config,
    run: values.run,
    stage: stage as 1 | 2 | undefined,
    initRun: values["init-run"],
    init: values.init,
    steps: intFlag("steps", values.steps),
    maxMinutes: numFlag("max-minutes", values["max-minutes"]),
    randomVgg: values["random-vgg"],
    version: values.version,
    name: values.name,
    evalN: intFlag("eval-n", values["eval-n"]),
    gpu: values.gpu,
    timeoutHours: numFlag("timeout-hours", values["timeout-hours"]),
  };
}

function idArg(argv: string[], flag: string): string {
  const rest = argv.filter((a) => a !== flag);
  const at = argv.indexOf(flag);
  const id = argv[at + 1];
  if (!id || id.startsWith("--") || rest.length !== 1) throw new Error(`usage: gmcnn train ${flag} <call id>`);
  return id;
}

export async function trainCommand(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(USAGE);
    return 0;
  }
  const modes = ["--remote", "--status", "--cancel"].filter((m) => argv.includes(m));
  if (modes.length > 1) throw new Error(`${modes.join(" and ")} exclude each other`);
  if (modes.length === 0) return runTrainer(localTrainArgs(argv));

  const launcher = await import("../launcher/modal.ts");
  if (modes[0] === "--status") {
    const s = await launcher.trainingStatus(idArg(argv, "--status"));
    console.log(JSON.stringify(s, null, 2));
    console.error(`${s.id}: ${s.state}${s.error ? ` (${s.error})` : ""}`);
    return s.state === "running" || s.state === "succeeded" ? 0 : 1;
  }
  if (modes[0] === "--cancel") {
    const id = idArg(argv, "--cancel");
    await launcher.cancelTraining(id);
    console.error(`cancel requested for ${id}`);
    return 0;
  }
  const req = launcher.buildTrainRequest(remoteOptions(argv));
  if (req.dropped.length) console.error(`note: config keys set by the job were dropped: ${req.dropped.join(", ")}`);
  const id = await launcher.spawnTraining(req);
  const spec = req.args[0];
  console.log(id);
  console.error(
    `spawned ${req.app}/${req.function}: stage ${spec.stage}, run "${spec.run}"; poll: npx gmcnn train --status ${id}`,
  );
  return 0;
}
