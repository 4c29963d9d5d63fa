/**
 * The Worker's Hono app: request ids, the routes, and the one place errors become responses
 * (RFC 9457 application/problem+json, with Retry-After where the problem carries one).
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { requestId } from "hono/request-id";
import { Problem, type ProblemKind } from "../shared/problems.ts";
import type { AppEnv, AppInstance } from "./app-env.ts";
import { apiCors } from "./browser-tokens.ts";
import { registerAdmin } from "./routes/admin.ts";
import { registerDocs } from "./routes/docs.ts";
import { registerHealth } from "./routes/health.ts";
import { registerHooks } from "./routes/hooks.ts";
import { registerInpaint } from "./routes/inpaint.ts";
import { registerJobs } from "./routes/jobs.ts";
import { registerPlugins } from "./routes/plugins.ts";
import { registerTokens } from "./routes/tokens.ts";
import { registerUploads } from "./routes/uploads.ts";
import { registerUsage } from "./routes/usage.ts";
import { registerWebhooks } from "./routes/webhooks.ts";
import { securityHeaders } from "./security-headers.ts";

export function renderProblem(c: Context<AppEnv>, p: Problem): Response {
  const id = c.get("requestId");
  const headers: Record<string, string> = { "Content-Type": "application/problem+json" };
  if (p.retryAfter !== undefined) headers["Retry-After"] = String(p.retryAfter);
  if (p.kind === "unauthorized") headers["WWW-Authenticate"] = 'Bearer realm="gmcnn-edge"';
  if (p.kind === "admin-unauthorized") headers["WWW-Authenticate"] = 'Bearer realm="gmcnn-edge admin"';
  const doc = { ...p.toJSON(c.req.path), ...(id ? { request_id: id } : {}) };
  return c.body(JSON.stringify(doc), p.status as 400, headers);
}

/** Errors thrown by Hono itself (or a middleware) carry only a status. */
const KIND_BY_STATUS: Record<number, ProblemKind> = {
  400: "bad-request",
  401: "unauthorized",
  403: "forbidden",
  404: "not-found",
  405: "method-not-allowed",
  413: "payload-too-large",
  415: "unsupported-media-type",
};

export function createApp(): AppInstance {
  const app = new OpenAPIHono<AppEnv>();
  app.use(requestId({ limitLength: 128 }));
  // CSP, nosniff, no framing, no referrer: on every answer, problems included.
  app.use(securityHeaders());
  // Pages on other origins call /v1 with browser tokens (workers/browser-tokens.ts).
  app.use("/v1/*", apiCors());

  registerHealth(app);
  registerInpaint(app);
  registerUploads(app);
  registerUsage(app);
  registerWebhooks(app);
  registerAdmin(app);
  registerJobs(app);
  registerHooks(app);
  registerPlugins(app);
  registerTokens(app);
  registerDocs(app);

  app.notFound((c) => renderProblem(c, new Problem("not-found", `no route for ${c.req.method} ${c.req.path}`)));
  app.onError((err, c) => {
    if (err instanceof Problem) return renderProblem(c, err);
    if (err instanceof HTTPException && KIND_BY_STATUS[err.status])
      return renderProblem(c, new Problem(KIND_BY_STATUS[err.status], err.message || "request refused"));
    console.error(JSON.stringify({ request_id: c.get("requestId"), error: String((err as Error)?.stack ?? err) }));
    return renderProblem(c, new Problem("internal", "unexpected error; quote the request id when reporting it"));
  });
  return app;
}
