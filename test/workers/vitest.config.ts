/**
 * Worker suites, run inside workerd by @cloudflare/vitest-pool-workers with wrangler.toml's
 * bindings. The GPU side is a real HTTP server started by the globalSetup (Node): the real GPU
 * function app with a deterministic fill instead of the model (test/workers/node/gpu-stand-in.ts).
 */
import { fileURLToPath } from "node:url";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

const TEST_API_KEY = "test-key-0123456789";
const TEST_ADMIN_TOKEN = "test-admin-token-0123456789";
// Applied to each test file's own D1 by the setup file.
const TEST_MIGRATIONS = await readD1Migrations(fileURLToPath(new URL("../../migrations", import.meta.url)));

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
          RECEIVER_URL: inject("receiverUrl"),
          API_KEYS: `${TEST_API_KEY}, another-key`,
          TEST_API_KEY,
          ADMIN_TOKEN: TEST_ADMIN_TOKEN,
          TEST_MIGRATIONS,
          // Suites that are not about rate limits must not hit one; billing.test.ts sets an
          // account's own limit to test it.
          RATE_LIMIT_REQUESTS: "100000",
          // Jobs and webhooks (jobs.test.ts): receivers on 127.0.0.1, seconds instead of hours.
          WEBHOOK_ALLOW_LOCAL: "true",
          WEBHOOK_RETRY_SCHEDULE_S: "0,1,1,1,1,1,1",
          JOB_RETRY_DELAYS_S: "1,1,1,1",
          URL_SIGNING_SECRET: "test-url-signing-secret",
          SSRF_DOH_URL: "",
        },
      },
    })),
  ],
  test: {
    include: ["test/workers/**/*.test.ts"],
    globalSetup: ["test/workers/node/global-setup.ts"],
    setupFiles: ["test/workers/migrations.setup.ts"],
    testTimeout: 30_000,
  },
});
