/**
 * Contract suite of the inference backends: every inference plugin gmcnn.config.ts lists (http,
 * fallback, local) must pass it against a real target: the GPU function app over HTTP (with a
 * deterministic stand-in for the model) or the shipped ONNX model in-process. Then the fallback
 * chain's circuit breaker against a real primary server that is stopped and restarted.
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeOnnx } from "../../../gpu-jobs/plugins/host.ts";
import { createGpuApp } from "../../../gpu-jobs/server/app.ts";
import { BoundedQueue } from "../../../gpu-jobs/server/queue.ts";
import type { ModelRunner } from "../../../gpu-jobs/server/threaded-runner.ts";
import type { GpuBackend } from "../../../shared/gpu-backend.ts";
import { newImage, type RgbaImage } from "../../../shared/imaging/types.ts";
import type { Settings } from "../../../shared/plugins/contract.ts";
import { createFallback } from "../../../shared/plugins/inference/fallback.ts";
import { createHttpBackend } from "../../../shared/plugins/inference/http.ts";
import { PluginSet } from "../../../shared/plugins/registry.ts";
import { PROTOCOL_VERSION } from "../../../shared/protocol.ts";
import type { ModelManifest } from "../../../shared/schemas/manifest.ts";
import { config, fixtureFor, host, pluginsOf } from "./setup.ts";

/** A GPU function app whose "model" paints holes with `colour` (name stand-in@`version`). */
function gpuFunction(version: string, colour: number[], o: { hang?: boolean } = {}) {
  let calls = 0;
  const runner: ModelRunner = {
    runtime: "node",
    provider: "stand-in",
    infer: async (img: RgbaImage, mask) => {
      calls++;
      if (o.hang) await new Promise(() => {});
      const out = newImage(img.width, img.height);
      out.data.set(img.data);
      for (let i = 0; i < mask.data.length; i++) if (mask.data[i]) out.data.set(colour, i * 4);
      return out;
    },
    close: async () => {},
  } as ModelRunner;
  const manifest = { name: "stand-in", version } as ModelManifest;
  const app = createGpuApp({
    model: () => ({ runner, manifest }),
    manifests: () => [manifest],
    queue: new BoundedQueue({ concurrency: 4, maxWaiting: 16 }),
    timeoutMs: 30_000,
  });
  return { app, calls: () => calls };
}

/** A server on 127.0.0.1 that can be stopped and started again on the same port. */
async function listen(fetch: (r: Request) => Response | Promise<Response>, port = 0) {
  const server = serve({ fetch, port, hostname: "127.0.0.1" }) as Server;
  await new Promise<void>((r) => server.once("listening", () => r()));
  const bound = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${bound}`,
    port: bound,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

function region(w = 48, h = 40) {
  const rgb = new Uint8Array(w * h * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 37) % 251;
  const mask = new Uint8Array(w * h);
  for (let y = 12; y < 28; y++) mask.fill(1, y * w + 14, y * w + 34);
  return { header: { v: PROTOCOL_VERSION, width: w, height: h }, rgb, mask } as const;
}

let primary: Awaited<ReturnType<typeof listen>>;
let secondary: Awaited<ReturnType<typeof listen>>;
let deadUrl: string;

beforeAll(async () => {
  primary = await listen(gpuFunction("1", [200, 10, 10]).app.fetch);
  secondary = await listen(gpuFunction("2", [10, 200, 10]).app.fetch);
  const dead = await listen(() => new Response());
  deadUrl = dead.url;
  await dead.stop();
});
afterAll(async () => {
  await primary?.stop();
  await secondary?.stop();
});

interface Fixture {
  settings: () => Settings;
  /** Settings under which the backend cannot serve, and the problem that says so. */
  broken: () => Settings;
  brokenKind: string;
}
const FIXTURES: Record<string, Fixture> = {
  http: { settings: () => ({ GPU_URL: primary.url }), broken: () => ({ GPU_URL: deadUrl }), brokenKind: "gpu-unavailable" },
  fallback: {
    settings: () => ({ GPU_URL: primary.url, GPU_SECONDARY_URL: secondary.url }),
    broken: () => ({ GPU_URL: deadUrl, GPU_SECONDARY_URL: deadUrl }),
    brokenKind: "gpu-unavailable",
  },
  local: { settings: () => ({}), broken: () => ({ GMCNN_MODEL: "no-such-model" }), brokenKind: "model-not-found" },
};

const backends = pluginsOf("inference");
/** The backend as a Node host loads it: the whole config, GPU_BACKEND selecting it (chains included). */
const build = async (name: string, settings: Settings): Promise<GpuBackend> =>
  (await PluginSet.load(config, { ...settings, GPU_BACKEND: name }, { ...host, onnx: nodeOnnx })).backend;

describe.each(backends.map((p) => [p.name] as const))("inference backend %s: contract", (name) => {
  const f = fixtureFor(FIXTURES, name);

  it("fills a region: same size, the served model named, kept pixels kept", async () => {
    const b = await build(name, f.settings());
    const req = region();
    const res = await b.infer(req);
    expect([res.header.width, res.header.height]).toEqual([48, 40]);
    expect(res.rgb.length).toBe(48 * 40 * 3);
    expect(res.header.model.name).not.toBe("");
    expect(await b.servedModel?.()).toBe(`${res.header.model.name}@${res.header.model.version}`);
    let off = 0;
    let changed = 0;
    for (let i = 0; i < req.mask.length; i++)
      for (let c = 0; c < 3; c++) {
        const d = Math.abs(res.rgb[i * 3 + c] - req.rgb[i * 3 + c]);
        if (req.mask[i]) changed += d > 0 ? 1 : 0;
        else off = Math.max(off, d);
      }
    expect(off).toBeLessThanOrEqual(1); // float round trip of the real model: at most 1
    expect(changed).toBeGreaterThan(0);
  });

  it("a model it does not serve: 422 model-not-found", async () => {
    const b = await build(name, f.settings());
    const req = { ...region(), header: { ...region().header, model: "no-such-model" } };
    await expect(b.infer(req)).rejects.toMatchObject({ kind: "model-not-found", status: 422 });
  });

  it("when it cannot serve: a typed problem, not a crash", async () => {
    const b = await build(name, f.broken());
    await expect(b.infer(region())).rejects.toMatchObject({ kind: f.brokenKind });
  });
});

describe("the config's inference backends", () => {
  it("are http, fallback and local", () => {
    expect(backends.map((b) => b.name).sort()).toEqual(["fallback", "http", "local"]);
  });

  it("local is refused at the edge, with the plugin and field named", async () => {
    const edge = { ...host, name: "edge" as const };
    await expect(PluginSet.load(config, { GPU_BACKEND: "local" }, edge)).rejects.toMatchObject({
      kind: "plugin-config",
      message: expect.stringMatching(/plugin local \(inference\): GPU_BACKEND/),
    });
  });
});

describe("fallback: the circuit breaker against a real primary that is stopped and restarted", () => {
  it("serves from the primary, fails over at once while it is down, stays off it while open, and returns after the cooldown", async () => {
    const fn = gpuFunction("1", [200, 10, 10]);
    let server = await listen(fn.app.fetch);
    const port = server.port;
    const backup = gpuFunction("2", [10, 200, 10]);
    const second = await listen(backup.app.fetch);
    let now = 1_000_000;
    let primaryAttempts = 0;
    const counting: typeof fetch = (input, init) => {
      primaryAttempts++;
      return fetch(input, init);
    };
    const b = createFallback(
      createHttpBackend({ GPU_URL: server.url, GPU_TIMEOUT_MS: 10_000 }, { fetch: counting }),
      createHttpBackend({ GPU_URL: second.url, GPU_TIMEOUT_MS: 10_000 }, { fetch }),
      { failures: 2, cooldownMs: 30_000, now: () => now },
    );
    const served = async () => (await b.infer(region())).servedBy;
    try {
      expect([await served(), await served()]).toEqual(["primary:http", "primary:http"]);
      expect(fn.calls()).toBe(2);

      await server.stop();
      // Down: each call tries the primary, fails (connection refused) and is served by the secondary.
      expect([await served(), await served()]).toEqual(["secondary:http", "secondary:http"]);
      expect(b.state()).toBe("open");
      const attempts = primaryAttempts;
      expect([await served(), await served(), await served()]).toEqual(["secondary:http", "secondary:http", "secondary:http"]);
      expect(primaryAttempts).toBe(attempts); // open: the primary is not even tried

      server = await listen(fn.app.fetch, port);
      now += 10_000; // back, but within the cooldown: still the secondary
      expect(await served()).toBe("secondary:http");
      expect(primaryAttempts).toBe(attempts);

      now += 25_000; // past the cooldown: one trial call to the primary closes the breaker
      expect(b.state()).toBe("half-open");
      expect(await served()).toBe("primary:http");
      expect(b.state()).toBe("closed");
      expect(await served()).toBe("primary:http");
      expect(fn.calls()).toBe(4);
      expect(backup.calls()).toBe(6);
    } finally {
      await server.stop();
      await second.stop();
    }
  });

  it("a primary that hangs costs its timeout only until the breaker opens", async () => {
    const hung = gpuFunction("1", [0, 0, 0], { hang: true });
    const stuck = await listen(hung.app.fetch);
    const b = createFallback(
      createHttpBackend({ GPU_URL: stuck.url, GPU_TIMEOUT_MS: 200 }, { fetch }),
      createHttpBackend({ GPU_URL: secondary.url, GPU_TIMEOUT_MS: 10_000 }, { fetch }),
      { failures: 2, cooldownMs: 60_000 },
    );
    try {
      for (let i = 0; i < 5; i++) expect((await b.infer(region())).servedBy).toBe("secondary:http");
      expect(hung.calls()).toBe(2); // two timeouts, then straight to the secondary
    } finally {
      await stuck.stop();
    }
  });

  it("a busy primary sends the call to the secondary without counting against its health", async () => {
    let busy = true;
    const flaky = await listen((req) =>
      busy
        ? Response.json(
            { type: "https://gmcnn-edge.dev/problems/gpu-busy", status: 503 },
            { status: 503, headers: { "Retry-After": "1" } },
          )
        : gpuFunction("1", [1, 2, 3]).app.fetch(req),
    );
    const b = createFallback(
      createHttpBackend({ GPU_URL: flaky.url, GPU_TIMEOUT_MS: 10_000 }, { fetch }),
      createHttpBackend({ GPU_URL: secondary.url, GPU_TIMEOUT_MS: 10_000 }, { fetch }),
      { failures: 1, cooldownMs: 60_000 },
    );
    try {
      expect((await b.infer(region())).servedBy).toBe("secondary:http");
      expect(b.state()).toBe("closed");
      busy = false;
      expect((await b.infer(region())).servedBy).toBe("primary:http");
    } finally {
      await flaky.stop();
    }
  });
});
