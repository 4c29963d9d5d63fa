/**
 * Inference backend `fallback`: a primary and a secondary backend behind a circuit breaker.
 * Closed: calls go to the primary, and a call the primary fails (unreachable, timed out, bad
 * answer, busy) is retried on the secondary at once. After GPU_BREAKER_FAILURES failures in a
 * row the breaker opens: calls go straight to the secondary, without waiting for the primary's
 * timeouts, for GPU_BREAKER_COOLDOWN_MS; then one trial call goes to the primary (half-open),
 * which closes the breaker on success or opens it again. Each result names the backend that
 * served it (`primary:http`, `secondary:http`), which the edge reports as X-Gpu-Backend.
 */
import { z } from "zod";
import type { GpuBackend, GpuCallOptions, InferResult } from "../../gpu-backend.ts";
import { isProblem, Problem, type ProblemKind } from "../../problems.ts";
import type { InferRequest } from "../../protocol.ts";
import { definePlugin } from "../contract.ts";
import { intSetting, urlSetting } from "../settings.ts";

/** Failures that move a call to the secondary; others (model-not-found, bad input) are the caller's. */
const FAILOVER: readonly ProblemKind[] = ["gpu-unavailable", "gpu-timeout", "gpu-bad-response", "gpu-busy"];
/** Failures that count against the primary's health (busy is load, not failure). */
const UNHEALTHY: readonly ProblemKind[] = ["gpu-unavailable", "gpu-timeout", "gpu-bad-response"];

export interface BreakerOptions {
  failures: number;
  cooldownMs: number;
  now?: () => number;
}

export type BreakerState = "closed" | "open" | "half-open";

export interface FallbackBackend extends GpuBackend {
  state(): BreakerState;
}

const failsOver = (e: unknown) => isProblem(e) && FAILOVER.includes(e.kind);

export function createFallback(primary: GpuBackend, secondary: GpuBackend, o: BreakerOptions): FallbackBackend {
  const now = o.now ?? Date.now;
  let failures = 0;
  let openedAt = 0;
  let trialInFlight = false;
  const state = (): BreakerState =>
    failures < o.failures ? "closed" : now() - openedAt >= o.cooldownMs && !trialInFlight ? "half-open" : "open";

  const onFailure = (e: unknown) => {
    if (!isProblem(e) || !UNHEALTHY.includes(e.kind)) return;
    failures++;
    if (failures >= o.failures) openedAt = now();
  };

  async function call<T>(fn: (b: GpuBackend, role: string) => Promise<T>): Promise<T> {
    const s = state();
    if (s === "open") return fn(secondary, "secondary");
    if (s === "half-open") trialInFlight = true;
    try {
      const out = await fn(primary, "primary");
      failures = 0;
      return out;
    } catch (e) {
      if (!failsOver(e)) throw e;
      onFailure(e);
      try {
        return await fn(secondary, "secondary");
      } catch (e2) {
        if (isProblem(e2))
          throw new Problem(e2.kind, `primary: ${(e as Error).message}; secondary: ${e2.message}`, e2.extensions, e2.retryAfter);
        throw e2;
      }
    } finally {
      if (s === "half-open") trialInFlight = false;
    }
  }

  return {
    name: "fallback",
    state,
    infer: (req: InferRequest, co?: GpuCallOptions): Promise<InferResult> =>
      call(async (b, role) => ({ ...(await b.infer(req, co)), servedBy: `${role}:${b.name}` })),
    servedModel: (co?: GpuCallOptions) => call((b) => b.servedModel?.(co) ?? Promise.resolve(undefined)),
  };
}

export const FallbackConfig = z.object({
  GPU_PRIMARY: z.string().default("http"),
  GPU_SECONDARY: z.string().default("http"),
  /** The secondary's GPU_URL (when the secondary is `http`). */
  GPU_SECONDARY_URL: urlSetting().optional(),
  GPU_BREAKER_FAILURES: intSetting(1, 1000, 3),
  GPU_BREAKER_COOLDOWN_MS: intSetting(1, 86_400_000, 30_000),
});

export const fallbackBackend = () =>
  definePlugin({
    name: "fallback",
    version: "1.0.0",
    kind: "inference",
    description: "A primary and a secondary backend behind a circuit breaker; X-Gpu-Backend names the one that served",
    config: FallbackConfig,
    async setup(c, host) {
      if (c.GPU_PRIMARY === "fallback" || c.GPU_SECONDARY === "fallback")
        throw new Problem("plugin-config", "plugin fallback (inference): GPU_PRIMARY / GPU_SECONDARY cannot be fallback itself", {
          plugin: "fallback",
          field: c.GPU_PRIMARY === "fallback" ? "GPU_PRIMARY" : "GPU_SECONDARY",
        });
      if (c.GPU_SECONDARY === "http" && !c.GPU_SECONDARY_URL)
        throw new Problem(
          "plugin-config",
          "plugin fallback (inference): GPU_SECONDARY_URL: missing: the secondary http backend's URL",
          {
            plugin: "fallback",
            field: "GPU_SECONDARY_URL",
          },
        );
      const primary = await host.backend(c.GPU_PRIMARY);
      const secondary = await host.backend(c.GPU_SECONDARY, c.GPU_SECONDARY_URL ? { GPU_URL: c.GPU_SECONDARY_URL } : {});
      return createFallback(primary, secondary, { failures: c.GPU_BREAKER_FAILURES, cooldownMs: c.GPU_BREAKER_COOLDOWN_MS });
    },
  });
