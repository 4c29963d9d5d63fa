/**
 * GET /v1/plugins: what this deployment loaded from gmcnn.config.ts, by kind: name, version,
 * description, the public options each adds to the inpaint and job routes (as JSON Schema), the
 * selected inference backend and the encoders' formats. Public, like /openapi.json.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { PLUGIN_KINDS } from "../../shared/plugins/contract.ts";
import type { AppInstance } from "../app-env.ts";
import { problemResponses } from "../openapi.ts";
import { edgePlugins } from "../plugins/index.ts";

const PluginInfo = z
  .object({
    name: z.string(),
    version: z.string(),
    kind: z.enum(PLUGIN_KINDS),
    description: z.string(),
    options: z.record(z.string(), z.unknown()).openapi({ description: "option name -> JSON Schema" }),
    selected: z.boolean().optional().openapi({ description: "inference backends: the one GPU_BACKEND selects" }),
    format: z.string().optional().openapi({ description: "encoders: the output_format value" }),
  })
  .openapi("PluginInfo");

const route = createRoute({
  method: "get",
  path: "/v1/plugins",
  summary: "The loaded plugins (mask sources, inference backends, post-processors, encoders, webhook sources)",
  responses: {
    200: {
      description: "In config order",
      content: { "application/json": { schema: z.object({ plugins: z.array(PluginInfo) }) } },
    },
    ...problemResponses([500]),
  },
});

export function registerPlugins(app: AppInstance): void {
  app.openapi(route, async (c) => {
    const plugins = (await edgePlugins(c.env)).describe();
    return c.json({ plugins }, 200, { "Cache-Control": "public, max-age=60" });
  });
}
