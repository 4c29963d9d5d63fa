/**
 * Training jobs on Modal through its JS SDK (modal@0.11.1): build the request, spawn the deployed
 * function `gmcnn-train/train` (gpu-jobs/modal/train_app.py), poll and cancel the call.
 *
 * The pure parts (request building, status mapping, credential check) are unit-tested; the network
 * calls need a Modal account and the deployed app, so they are not run by the tests.
 */
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import {
  FunctionTimeoutError,
  InternalFailure,
  InvalidError,
  ModalClient,
  NotFoundError,
  RemoteError,
  TimeoutError,
} from "modal";
import {
  JOB_OWNED_CONFIG_KEYS,
  TrainingGpu,
  TrainingJobResult,
  TrainingJobSpec,
  type TrainingJobStatus,
} from "../../shared/schemas/training-job.ts";

/** Must match gpu-jobs/modal/train_settings.py (APP_NAME, FUNCTION_NAME). */
export const TRAIN_APP = "gmcnn-train";
export const TRAIN_FUNCTION = "train";

/** One-line errors for the CLI. */
export class LauncherError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LauncherError";
  }
}

export interface RemoteTrainOptions {
  /** A trainer config file (gpu-jobs/configs/*.json); its `stage` and `random_vgg` are defaults. */
  configPath?: string;
  /** Extra config keys, applied over the file's. */
  config?: Record<string, number | string | boolean>;
  run?: string;
  stage?: 1 | 2;
  initRun?: string;
  init?: string;
  steps?: number;
  maxMinutes?: number;
  randomVgg?: boolean;
  /** Export ONNX + manifest at the end under this version (and name, default gmcnn). */
  version?: string;
  name?: string;
  evalN?: number;
  gpu?: string;
  /** Function timeout override in hours (Modal caps a call at 24 h). */
  timeoutHours?: number;
}

export interface TrainRequest {
  app: string;
  function: string;
  /** Positional arguments of `train(spec)`, CBOR-encoded by the SDK. */
  args: [TrainingJobSpec];
  /** Passed to Function_.withOptions() when not empty. */
  options: { gpu?: string; timeoutMs?: number };
  /** Config keys dropped from the file because the job sets them. */
  dropped: string[];
}

function oneLine(e: { issues: { path: PropertyKey[]; message: string }[] }): string {
  return e.issues.map((i) => `${i.path.length ? `${i.path.map(String).join(".")}: ` : ""}${i.message}`).join("; ");
}

function defaultRunName(stage: 1 | 2, now: Date): string {
  const t = now.toISOString().replace(/[-:T]/g, "").slice(0, 12); // yyyymmddhhmm
  return `stage${stage}-${t.slice(0, 8)}-${t.slice(8)}`;
}

/** Options (CLI flags) -> the validated request. Throws LauncherError with one line. */
export function buildTrainRequest(
  opts: RemoteTrainOptions,
  readFile: (p: string) => string = (p) => readFileSync(p, "utf8"),
  now: Date = new Date(),
): TrainRequest {
  let fileConfig: Record<string, unknown> = {};
  if (opts.configPath) {
    let text: string;
    try {
      text = readFile(opts.configPath);
    } catch {
      throw new LauncherError(`cannot read config ${opts.configPath}`);
    }
    try {
      fileConfig = JSON.parse(text);
    } catch (e) {
      throw new LauncherError(`config ${opts.configPath} is not JSON: ${(e as Error).message}`);
    }
    if (typeof fileConfig !== "object" || fileConfig === null || Array.isArray(fileConfig))
      throw new LauncherError(`config ${opts.configPath} must be a JSON object`);
  }
  const merged: Record<string, unknown> = { ...fileConfig, ...(opts.config ?? {}) };
  const fileStage = merged.stage === 1 || merged.stage === 2 ? merged.stage : undefined;
  const fileRandomVgg = typeof merged.random_vgg === "boolean" ? merged.random_vgg : undefined;
  const owned = new Set<string>(JOB_OWNED_CONFIG_KEYS);
  const config: Record<string, unknown> = {};
  const dropped: string[] = [];
  for (const [k, v] of Object.entries(merged)) {
    if (k.startsWith("_")) continue; // comments such as "_about"
    if (owned.has(k)) dropped.push(k);
    else config[k] = v;
  }
  const stage = opts.stage ?? fileStage ?? 2;
  const raw = {
    run: opts.run ?? defaultRunName(stage, now),
    stage,
    config,
    init_run: opts.initRun,
    init: opts.init,
    steps: opts.steps,
    max_minutes: opts.maxMinutes,
    random_vgg: opts.randomVgg ?? fileRandomVgg,
    export: opts.version ? { name: opts.name, version: opts.version } : undefined,
    eval_n: opts.evalN,
  };
  const spec = TrainingJobSpec.safeParse(JSON.parse(JSON.stringify(raw))); // drops undefined keys
  if (!spec.success) throw new LauncherError(`invalid training job: ${oneLine(spec.error)}`);
  const options: TrainRequest["options"] = {};
  if (opts.gpu !== undefined) {
    const g = TrainingGpu.safeParse(opts.gpu);
    if (!g.success) throw new LauncherError(`--gpu must be one of ${TrainingGpu.options.join(", ")}`);
    options.gpu = g.data;
  }
  if (opts.timeoutHours !== undefined) {
    if (!(opts.timeoutHours > 0 && opts.timeoutHours <= 24)) throw new LauncherError("--timeout-hours must be in (0, 24]");
    options.timeoutMs = Math.round(opts.timeoutHours * 3_600_000);
  }
  return { app: TRAIN_APP, function: TRAIN_FUNCTION, args: [spec.data], options, dropped };
}

export type CallOutcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/**
 * The outcome of `FunctionCall.get({ timeoutMs: 0 })` -> a job status.
 * TimeoutError (the poll's own zero timeout) means the call has no output yet: running. It must be
 * tested before FunctionTimeoutError, which the SDK makes match poll timeouts too (deprecated).
 * FunctionTimeoutError: the call ran past the function's timeout. RemoteError: the Python side
 * raised, or the call was cancelled (terminated). Unknown ids throw a LauncherError.
 */
export function statusFromOutcome(id: string, outcome: CallOutcome, now: Date = new Date()): TrainingJobStatus {
  const base = { id, checked_at: now.toISOString() };
  if (outcome.ok) {
    const r = TrainingJobResult.safeParse(outcome.value);
    if (r.success) return { ...base, state: "succeeded", result: r.data };
    return { ...base, state: "succeeded", error: `unexpected result shape: ${JSON.stringify(outcome.value)?.slice(0, 200)}` };
  }
  const e = outcome.error;
  const msg = e instanceof Error ? e.message : String(e);
  if (e instanceof TimeoutError) return { ...base, state: "running" };
  if (e instanceof FunctionTimeoutError)
    return { ...base, state: "timed_out", error: `${msg} (spawn the same --run again to resume from its last checkpoint)` };
  if (e instanceof NotFoundError || e instanceof InvalidError) throw new LauncherError(`no training job ${id}: ${msg}`);
  if (e instanceof RemoteError && /cancel|terminat/i.test(msg)) return { ...base, state: "cancelled", error: msg };
  if (e instanceof RemoteError || e instanceof InternalFailure) return { ...base, state: "failed", error: msg };
  throw e instanceof Error ? e : new LauncherError(msg); // network or auth trouble: not a job state
}

/** Modal credentials from the environment (or ~/.modal.toml, read by the SDK itself). */
export function modalCredentials(
  env: Record<string, string | undefined> = process.env,
  hasConfigFile: () => boolean = () => existsSync(env.MODAL_CONFIG_PATH ?? join(homedir(), ".modal.toml")),
): { tokenId?: string; tokenSecret?: string } {
  const id = env.MODAL_TOKEN_ID?.trim();
  const secret = env.MODAL_TOKEN_SECRET?.trim();
  if (id && secret) return { tokenId: id, tokenSecret: secret };
  if (!id && !secret && hasConfigFile()) return {};
  const missing = [!id && "MODAL_TOKEN_ID", !secret && "MODAL_TOKEN_SECRET"].filter(Boolean).join(" and ");
  throw new LauncherError(`${missing} not set: create a token at https://modal.com/settings/tokens and export both`);
}

/** The slice of ModalClient the launcher uses (ModalClient satisfies it). */
export interface ModalLike {
  functions: {
    fromName(
      app: string,
      name: string,
    ): Promise<{
      spawn(args?: unknown[]): Promise<{ functionCallId: string }>;
      withOptions(o: { gpu?: string; timeoutMs?: number }): {
        instance(): Promise<{ spawn(args?: unknown[]): Promise<{ functionCallId: string }> }>;
      };
    }>;
  };
  functionCalls: { fromId(id: string): Promise<{ get(p?: { timeoutMs?: number }): Promise<unknown>; cancel(): Promise<void> }> };
  close?(): void;
}

export function modalClient(env: Record<string, string | undefined> = process.env): ModalLike {
  return new ModalClient(modalCredentials(env));
}

async function withClient<T>(client: ModalLike | undefined, f: (c: ModalLike) => Promise<T>): Promise<T> {
  const c = client ?? modalClient();
  try {
    return await f(c);
  } finally {
    if (!client) c.close?.();
  }
}

/** Spawn the job; returns the call id (fc-...). */
export async function spawnTraining(req: TrainRequest, client?: ModalLike): Promise<string> {
  return withClient(client, async (c) => {
    let base: Awaited<ReturnType<ModalLike["functions"]["fromName"]>>;
    try {
      base = await c.functions.fromName(req.app, req.function);
    } catch (e) {
      if (e instanceof NotFoundError)
        throw new LauncherError(`Modal function ${req.app}/${req.function} not found: modal deploy gpu-jobs/modal/train_app.py`);
      throw e;
    }
    // withOptions() only takes effect on the bound instance() (SDK 0.11: spawn uses the function id).
    const fn = Object.keys(req.options).length ? await base.withOptions(req.options).instance() : base;
    return (await fn.spawn(req.args)).functionCallId;
  });
}

export async function trainingStatus(id: string, client?: ModalLike): Promise<TrainingJobStatus> {
  return withClient(client, async (c) => {
    let call: Awaited<ReturnType<ModalLike["functionCalls"]["fromId"]>>;
    try {
      call = await c.functionCalls.fromId(id);
    } catch (e) {
      return statusFromOutcome(id, { ok: false, error: e });
    }
    try {
      return statusFromOutcome(id, { ok: true, value: await call.get({ timeoutMs: 0 }) });
    } catch (e) {
      if (e instanceof LauncherError) throw e;
      return statusFromOutcome(id, { ok: false, error: e });
    }
  });
}

export async function cancelTraining(id: string, client?: ModalLike): Promise<void> {
  await withClient(client, async (c) => (await c.functionCalls.fromId(id)).cancel());
}
