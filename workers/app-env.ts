/** The Hono environment of this Worker: its bindings and per-request variables. */
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { RequestIdVariables } from "hono/request-id";
import type { Bindings } from "./env.ts";

export type AppEnv = { Bindings: Bindings; Variables: RequestIdVariables };
export type AppInstance = OpenAPIHono<AppEnv>;
