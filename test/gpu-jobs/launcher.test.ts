/**
 * The Modal training launcher: request building, status mapping and credentials, plus the
 * spawn/status/cancel wiring against an in-memory stand-in for the SDK client. The real network
 * calls need a Modal account and the deployed app (gpu-jobs/modal/train_app.py): not run here.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { FunctionTimeoutError, InternalFailure, NotFoundError, RemoteError, TimeoutError } from "modal";
import { afterEach, describe, expect, it, vi } from "vitest";
import { GPU_JOBS } from "../../gpu-jobs/cli/python.ts";
import { localTrainArgs, remoteOptions, trainCommand } from "../../gpu-jobs/cli/train.ts";
import {
  buildTrainRequest,
  cancelTraining,
  LauncherError,
  type ModalLike,
  modalCredentials,
  spawnTraining,
  statusFromOutcome,
  TRAIN_APP,
  TRAIN_FUNCTION,
  trainingStatus,
} from "../../gpu-jobs/launcher/modal.ts";
import { TrainingJobSpec, TrainingJobStatus } from "../../shared/schemas/training-job.ts";

const STAGE2_GPU = resolve(GPU_JOBS, "configs/stage2-gpu.json");
const NOW = new Date("2026-11-25T03:21:00Z");

describe("buildTrainRequest", () => {
  it("sends the config file's training keys and lets the job own paths, stage and VGG", () => {
    const req = buildTrainRequest({ configPath: STAGE2_GPU, initRun: "stage1-a", steps: 500 }, undefined, NOW);
    expect(req.app).toBe(TRAIN_APP);
    expect(req.function).toBe(TRAIN_FUNCTION);
    const [spec] = req.args;
    expect(spec.stage).toBe(2); // from the file
    expect(spec.run).toBe("stage2-20261125-0321");
    expect(spec.init_run).toBe("stage1-a");
    expect(spec.steps).toBe(500);
    expect(spec.config).toMatchObject({ crop: 256, batch: 16, n_critic: 5, mrf_w: 0.07, adv_w: 0.001, gp_lambda: 10 });
    for (const k of ["data", "val", "out", "init", "vgg_weights", "vgg_sha256", "stage", "threads", "_about"])
      expect(spec.config).not.toHaveProperty(k);
    expect(req.dropped.sort()).toEqual(["data", "init", "out", "stage", "threads", "val", "vgg_sha256", "vgg_weights"]);
    expect(req.options).toEqual({});
    expect(spec.random_vgg).toBe(false);
    expect(spec.export).toBeUndefined();
    expect(TrainingJobSpec.parse(spec)).toEqual(spec); // what leaves is a valid spec
  });

  it("flags override the file; export, GPU and timeout options", () => {
    const req = buildTrainRequest(
      {
        configPath: STAGE2_GPU,
        config: { lr: 5e-5 },
        stage: 1,
        run: "s1-h100",
        randomVgg: true,
        version: "1.2.0",
        gpu: "H100",
        timeoutHours: 12,
        evalN: 50,
      },
      undefined,
      NOW,
    );
    const [spec] = req.args;
    expect(spec).toMatchObject({ run: "s1-h100", stage: 1, random_vgg: true, eval_n: 50 });
    expect(spec.config.lr).toBe(5e-5);
    expect(spec.export).toEqual({ name: "gmcnn", version: "1.2.0" });
    expect(req.options).toEqual({ gpu: "H100", timeoutMs: 12 * 3_600_000 });
  });

  it("refuses what the job would refuse, in one line", () => {
    const bad = (opts: Parameters<typeof buildTrainRequest>[0], re: RegExp) => {
      const f = () => buildTrainRequest(opts, undefined, NOW);
      expect(f).toThrow(LauncherError);
      expect(f).toThrow(re);
      try {
        f();
      } catch (e) {
        expect((e as Error).message).not.toContain("\n");
      }
    };
    bad({ configPath: STAGE2_GPU }, /stage 2 starts from a stage-1 generator/);
    bad({ stage: 1, run: "Not A Name" }, /run/);
    bad({ stage: 1, steps: -3 }, /steps/);
    bad({ stage: 2, init: "../../etc/passwd" }, /init/);
    bad({ stage: 1, version: "v1" }, /version/);
    bad({ stage: 1, gpu: "TPU" }, /--gpu must be one of/);
    bad({ stage: 1, timeoutHours: 30 }, /timeout-hours/);
    bad({ stage: 1, config: { crop: [1] as unknown as number } }, /config/);
    bad({ configPath: "/nonexistent/x.json" }, /cannot read config/);
    const dir = mkdtempSync(join(tmpdir(), "launcher-"));
    writeFileSync(join(dir, "bad.json"), "{ nope");
    bad({ configPath: join(dir, "bad.json") }, /is not JSON/);
  });
});

describe("statusFromOutcome", () => {
  const st = (outcome: Parameters<typeof statusFromOutcome>[1]) =>
    TrainingJobStatus.parse(statusFromOutcome("fc-1", outcome, NOW));

  it("maps a returned result to succeeded", () => {
    const value = {
      run: "s2-a",
      stage: 2,
      step: 20000,
      hours: 5.5,
      random_vgg: false,
      checkpoint: "runs/s2-a/last_gen.pt",
      extra: 1,
    };
    const s = st({ ok: true, value });
    expect(s).toEqual({ id: "fc-1", state: "succeeded", result: value, checked_at: NOW.toISOString() });
  });

  it("maps the zero-timeout poll to running, before FunctionTimeoutError can claim it", () => {
    expect(st({ ok: false, error: new TimeoutError("Timeout exceeded: 0ms") }).state).toBe("running");
  });

  it("maps the SDK's errors to job states", () => {
    const timedOut = st({ ok: false, error: new FunctionTimeoutError("Timeout: 86400s") });
    expect(timedOut.state).toBe("timed_out");
    expect(timedOut.error).toContain("--run");
    expect(st({ ok: false, error: new RemoteError("Remote error: RuntimeError: trainer exited with status 1") })).toMatchObject({
      state: "failed",
      error: "Remote error: RuntimeError: trainer exited with status 1",
    });
    expect(st({ ok: false, error: new RemoteError("Remote error: Input was cancelled") }).state).toBe("cancelled");
    expect(st({ ok: false, error: new RemoteError("Remote error: terminated") }).state).toBe("cancelled");
    expect(st({ ok: false, error: new InternalFailure("Internal failure: worker lost") }).state).toBe("failed");
    expect(st({ ok: true, value: "not an object" })).toMatchObject({
      state: "succeeded",
      error: expect.stringContaining("unexpected"),
    });
  });

  it("throws for unknown ids and for trouble that is not a job state", () => {
    expect(() => statusFromOutcome("fc-x", { ok: false, error: new NotFoundError("no such call") })).toThrow(
      /no training job fc-x/,
    );
    expect(() => statusFromOutcome("fc-x", { ok: false, error: new Error("UNAUTHENTICATED") })).toThrow("UNAUTHENTICATED");
  });
});

describe("modalCredentials", () => {
  it("reads both tokens from the environment", () => {
    expect(modalCredentials({ MODAL_TOKEN_ID: "ak-1", MODAL_TOKEN_SECRET: "as-2" }, () => false)).toEqual({
      tokenId: "ak-1",
      tokenSecret: "as-2",
    });
  });
  it("lets the SDK read ~/.modal.toml when no token is in the environment", () => {
    expect(modalCredentials({}, () => true)).toEqual({});
  });
  it("says which variable is missing, in one line", () => {
    expect(() => modalCredentials({}, () => false)).toThrow(/^MODAL_TOKEN_ID and MODAL_TOKEN_SECRET not set: /);
    expect(() => modalCredentials({ MODAL_TOKEN_ID: "ak-1" }, () => true)).toThrow(/^MODAL_TOKEN_SECRET not set/);
  });
});

/** An in-memory stand-in for the ModalClient surface the launcher uses (no network). */
function fakeClient(outcome: () => Promise<unknown>) {
  const log: string[] = [];
  const fn = {
    spawn: async (args?: unknown[]) => {
      log.push(`spawn ${JSON.stringify(args)}`);
      return { functionCallId: "fc-42" };
    },
    withOptions: (o: object) => {
      log.push(`withOptions ${JSON.stringify(o)}`);
      return {
        instance: async () => {
          log.push("instance");
          return fn;
        },
      };
    },
  };
  const client: ModalLike = {
    functions: {
      fromName: async (app, name) => {
        log.push(`fromName ${app}/${name}`);
        if (name !== TRAIN_FUNCTION) throw new NotFoundError("no function");
        return fn;
      },
    },
    functionCalls: {
      fromId: async (id) => ({
        get: async (p) => {
          log.push(`get ${id} ${JSON.stringify(p)}`);
          return outcome();
        },
        cancel: async () => {
          log.push(`cancel ${id}`);
        },
      }),
    },
  };
  return { client, log };
}

describe("spawn, status and cancel wiring", () => {
  it("spawns with the spec as the only positional argument, binding GPU options first", async () => {
    const { client, log } = fakeClient(async () => null);
    const req = buildTrainRequest({ stage: 1, run: "s1", gpu: "A100-80GB" }, undefined, NOW);
    expect(await spawnTraining(req, client)).toBe("fc-42");
    expect(log).toEqual([
      `fromName ${TRAIN_APP}/${TRAIN_FUNCTION}`,
      'withOptions {"gpu":"A100-80GB"}',
      "instance",
      `spawn ${JSON.stringify([req.args[0]])}`,
    ]);
    const plain = fakeClient(async () => null);
    await spawnTraining(buildTrainRequest({ stage: 1, run: "s1" }, undefined, NOW), plain.client);
    expect(plain.log.some((l) => l.startsWith("withOptions"))).toBe(false);
  });

  it("explains an undeployed function", async () => {
    const { client } = fakeClient(async () => null);
    const req = { ...buildTrainRequest({ stage: 1, run: "s1" }, undefined, NOW), function: "nope" };
    await expect(spawnTraining(req, client)).rejects.toThrow(/modal deploy gpu-jobs\/modal\/train_app.py/);
  });

  it("polls with a zero timeout and cancels by id", async () => {
    const running = fakeClient(async () => {
      throw new TimeoutError("Timeout exceeded: 0ms");
    });
    expect((await trainingStatus("fc-7", running.client)).state).toBe("running");
    expect(running.log).toEqual(['get fc-7 {"timeoutMs":0}']);
    const done = fakeClient(async () => ({ run: "s1", stage: 1, step: 10, hours: 0.1, random_vgg: false, checkpoint: "c" }));
    expect((await trainingStatus("fc-8", done.client)).state).toBe("succeeded");
    await cancelTraining("fc-9", done.client);
    expect(done.log).toContain("cancel fc-9");
  });
});

describe("gmcnn train (CLI)", () => {
  afterEach(() => vi.unstubAllEnvs());

  it("stops with one line when Modal credentials are missing", async () => {
    vi.stubEnv("MODAL_TOKEN_ID", "");
    vi.stubEnv("MODAL_TOKEN_SECRET", "");
    vi.stubEnv("MODAL_CONFIG_PATH", "/nonexistent/.modal.toml");
    const err = vi.spyOn(console, "error").mockImplementation(() => {});
    await expect(trainCommand(["--remote", "--config", STAGE2_GPU, "--init-run", "s1"])).rejects.toThrow(
      /^MODAL_TOKEN_ID and MODAL_TOKEN_SECRET not set: create a token/,
    );
    await expect(trainCommand(["--status", "fc-1"])).rejects.toThrow(/MODAL_TOKEN_ID and MODAL_TOKEN_SECRET not set/);
    err.mockRestore();
  });

  it("refuses mixed modes and missing ids", async () => {
    await expect(trainCommand(["--remote", "--status", "fc-1"])).rejects.toThrow(/exclude each other/);
    await expect(trainCommand(["--cancel"])).rejects.toThrow(/usage: gmcnn train --cancel <call id>/);
  });

  it("parses remote flags", () => {
    const o = remoteOptions([
      "--remote",
      "--config",
      "configs/stage2-gpu.json",
      "--set",
      "lr=5e-5",
      "--set",
      "d_fresh_batch=false",
      "--stage",
      "2",
    ]);
    expect(o.configPath).toBe(STAGE2_GPU); // found under gpu-jobs/
    expect(o.config).toEqual({ lr: 5e-5, d_fresh_batch: false });
    expect(o.stage).toBe(2);
    expect(() => remoteOptions(["--remote", "--stage", "3"])).toThrow(/--stage must be 1 or 2/);
    expect(() => remoteOptions(["--remote", "--bogus"])).toThrow();
  });

  it("resolves local path flags for a trainer that runs in gpu-jobs/", () => {
    const exists = (p: string) => p === resolve(GPU_JOBS, "configs/stage1-cpu.json") || p === "/work/x/ckpt.pt";
    expect(
      localTrainArgs(
        ["--config", "configs/stage1-cpu.json", "--init=ckpt.pt", "--out", "runs/a", "--steps", "3", "--random-vgg"],
        "/work/x",
        exists,
      ),
    ).toEqual([
      "--config",
      resolve(GPU_JOBS, "configs/stage1-cpu.json"),
      "--init",
      "/work/x/ckpt.pt",
      "--out",
      "/work/x/runs/a",
      "--steps",
      "3",
      "--random-vgg",
    ]);
    expect(() => localTrainArgs(["--config"])).toThrow(/needs a value/);
  });
});
