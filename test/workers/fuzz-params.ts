/** fast-check runs and seed for the workerd fuzz suites, from FUZZ_RUNS / FUZZ_SEED (node/global-setup.ts). */
import { inject } from "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    fuzz: { runs: number; seed: number };
  }
}

export function fuzzParams(scale = 1): { numRuns: number; seed: number } {
  const { runs, seed } = inject("fuzz");
  return { numRuns: Math.max(1, Math.round(runs * scale)), seed };
}
