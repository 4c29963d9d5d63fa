import { defineConfig } from "vitest/config";

// Node-side suites: shared contracts and image math, the GPU-function code, end-to-end tests,
// the test tooling itself (test/scripts: the closing line, the suite's own conventions).
// The Worker's suites run inside workerd with test/workers/vitest.config.ts.
export default defineConfig({
  test: {
    include: [
      "test/shared/**/*.test.ts",
      "test/gpu-jobs/**/*.test.ts",
      "test/e2e/**/*.test.ts",
      "test/sdk/**/*.test.ts",
      "test/browser/**/*.test.ts",
      "test/scripts/**/*.test.ts",
    ],
    environment: "node",
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // Two cores: one file at a time keeps the model tests from starving each other.
    fileParallelism: false,
  },
});
