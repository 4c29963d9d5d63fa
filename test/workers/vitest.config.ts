/**
 * Worker suites, run inside workerd by @cloudflare/vitest-pool-workers with wrangler.toml's
 * bindings. The GPU side is a real HTTP server started by the globalSetup (Node): the real GPU
 * function app with a deterministic fill instead of the model (test/workers/node/gpu-stand-in.ts).
 */
import { fileURLToPath } from "node:url";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

const TEST_API_KEY = "test-key-0123456789";

export default defineConfig({
  root: fileURLToPath(new URL("../..", import.meta.url)),
  plugins: [
    cloudflareTest(({ inject }) => ({
      main: "./workers/index.ts",
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        bindings: {
          GPU_URL: `${inject("gpuUrl")}/ok`,
          DEAD_GPU_URL: inject("deadGpuUrl"),
          STAND_IN_URL: inject("gpuUrl"),
          API_KEYS: `${TEST_API_KEY}, another-key`,
          TEST_API_KEY,
        },
      },
    })),
  ],
  test: {
    include: ["test/workers/**/*.test.ts"],
    globalSetup: ["test/workers/node/global-setup.ts"],
    testTimeout: 30_000,
  },
});
