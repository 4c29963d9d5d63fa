/** The Hono environment of this Worker: its bindings and per-request variables. */
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { RequestIdVariables } from "hono/request-id";
import type { Caller } from "./auth.ts";
import type { Meter } from "./billing/meter.ts";
import type { Bindings } from "./env.ts";

export type AppEnv = {
  Bindings: Bindings;
  Variables: RequestIdVariables & {
    /** Set by requireApiKey. */
    caller: Caller;
    /** Set on billed routes for metered callers (workers/billing/meter.ts). */
    meter?: Meter;
  };
};
export type AppInstance = OpenAPIHono<AppEnv>;
