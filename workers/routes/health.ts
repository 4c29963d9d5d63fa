/** GET /healthz: liveness of the Worker itself (the GPU function has its own /readyz). */
import { createRoute, z } from "@hono/zod-openapi";
import type { AppInstance } from "../app-env.ts";

const Health = z.object({ status: z.literal("ok"), gpu_backend: z.string() }).openapi("Health");

const route = createRoute({
  method: "get",
  path: "/healthz",
  summary: "Liveness",
  responses: { 200: { description: "The Worker is up", content: { "application/json": { schema: Health } } } },
});

export function registerHealth(app: AppInstance): void {
  app.openapi(route, (c) => c.json({ status: "ok" as const, gpu_backend: c.env.GPU_BACKEND || "http" }, 200));
}
