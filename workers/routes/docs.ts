/**
 * GET /openapi.json (generated from the zod schemas of every route) and GET /docs: Swagger UI from
 * this deployment's own static assets (`swagger-ui-dist`, copied to /assets/swagger-ui/ by
 * web/build.ts), never a CDN, so the page works offline. The page also lists every route in plain
 * HTML, which Swagger UI replaces once its script runs: without the assets it is still a usable page.
 */
import { html, raw } from "hono/html";
import type { AppInstance } from "../app-env.ts";

const OPENAPI_CONFIG = {
  openapi: "3.1.0",
  info: {
    title: "gmcnn-edge",
    version: "1",
    description: "Image inpainting with GMCNN. Errors are RFC 9457 application/problem+json.",
  },
};

/**
 * operationIds (the names generated clients give their methods), set here in one table rather
 * than in each route so that every route has one and none collides; a route missing from the
 * table gets one made from its method and path.
 */
const OPERATION_IDS: Record<string, string> = {
  "GET /healthz": "getHealth",
  "POST /v1/inpaint": "inpaint",
  "POST /v1/uploads": "createUpload",
  "DELETE /v1/uploads/{id}": "deleteUpload",
  "GET /v1/usage": "getUsage",
  "GET /v1/plugins": "listPlugins",
  "POST /v1/tokens": "createToken",
  "POST /v1/jobs": "createJob",
  "GET /v1/jobs": "listJobs",
  "GET /v1/jobs/{id}": "getJob",
  "POST /v1/jobs/{id}/cancel": "cancelJob",
  "GET /v1/jobs/{id}/result": "getJobResult",
  "GET /v1/jobs/{id}/deliveries": "listJobDeliveries",
  "GET /v1/webhooks/default/secret": "getWebhookSecret",
  "POST /v1/webhooks/default/secret/rotate": "rotateWebhookSecret",
  "POST /v1/hooks/{integration}": "receiveIntegrationEvent",
  "POST /v1/admin/accounts": "adminCreateAccount",
  "GET /v1/admin/accounts/{id}": "adminGetAccount",
  "POST /v1/admin/accounts/{id}/keys": "adminCreateKey",
  "DELETE /v1/admin/accounts/{id}/keys/{key_id}": "adminRevokeKey",
  "POST /v1/admin/accounts/{id}/credits": "adminAddCredits",
  "GET /v1/admin/accounts/{id}/ledger": "adminGetLedger",
  "POST /v1/admin/integrations": "adminCreateIntegration",
};

/** Who may call the routes that take no bearer key (an explicit `[]` means public). */
const SECURITY: Record<string, object[]> = {
  "GET /healthz": [],
  "GET /v1/plugins": [],
  "GET /v1/jobs/{id}/result": [{ bearer: [] }, { resultUrlSignature: [] }],
  "POST /v1/hooks/{integration}": [{ webhookSignature: [] }],
};

const fallbackId = (method: string, path: string) =>
  method.toLowerCase() +
  path
    .split("/")
    .filter(Boolean)
    .map((s) => s.replace(/[{}]/g, "").replace(/(^|[-_])(\w)/g, (_, __, c: string) => c.toUpperCase()))
    .join("");

type Doc = ReturnType<AppInstance["getOpenAPI31Document"]>;

/** Authorize lists the schemes in this order: the customer's key first, the operator's token second. */
const SCHEME_ORDER = ["bearer", "admin"];

type FormSchema = { properties?: Record<string, Record<string, unknown>>; required?: string[] };

/**
 * Optional multipart fields without a default get an empty example: Swagger UI's "Try it out"
 * otherwise fills them with its type placeholders (`string`, `0`, `false`), which the API rejects
 * (`image_id=string`, `mask_shapes=string`). Empty fields are left out by Swagger UI and treated
 * as absent by the API (workers/form.ts).
 */
function emptyOptionalFields(schema: FormSchema | undefined): void {
  for (const [name, prop] of Object.entries(schema?.properties ?? {})) {
    if (schema?.required?.includes(name) || prop.format === "binary") continue;
    if (prop.default !== undefined || prop.example !== undefined || Array.isArray(prop.examples)) continue;
    prop.examples = [""];
  }
}

/** The generated document, completed: servers (this origin), operationIds, explicit security. */
export function describeApi(doc: Doc, origin: string): Doc {
  doc.servers = [{ url: origin, description: "this deployment" }];
  for (const [path, item] of Object.entries(doc.paths ?? {}))
    for (const method of METHODS) {
      const op = item?.[method];
      if (!op) continue;
      const key = `${method.toUpperCase()} ${path}`;
      op.operationId ??= OPERATION_IDS[key] ?? fallbackId(method, path);
      if (!op.security && SECURITY[key]) (op as { security?: object[] }).security = SECURITY[key];
      const body = op.requestBody as { content?: Record<string, { schema?: FormSchema }> } | undefined;
      emptyOptionalFields(body?.content?.["multipart/form-data"]?.schema);
    }
  const schemes = doc.components?.securitySchemes;
  if (schemes && doc.components) {
    const rank = (k: string) => (SCHEME_ORDER.includes(k) ? SCHEME_ORDER.indexOf(k) : SCHEME_ORDER.length);
    doc.components.securitySchemes = Object.fromEntries(Object.entries(schemes).sort(([a], [b]) => rank(a) - rank(b)));
  }
  return doc;
}

/** Where web/build.ts puts swagger-ui-dist's files among the static assets. */
export const SWAGGER_ASSETS = "/assets/swagger-ui";

const METHODS = ["get", "post", "put", "patch", "delete"] as const;

export function registerDocs(app: AppInstance): void {
  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    description: "An API key (secret API_KEYS; `npm start` prints the dev key), or a browser token from POST /v1/tokens",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "resultUrlSignature", {
    type: "apiKey",
    in: "query",
    name: "signature",
    description: "the signed query (`expires`, `signature`) of a job's output.url",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "webhookSignature", {
    type: "apiKey",
    in: "header",
    name: "webhook-signature",
    description:
      "Standard Webhooks: `webhook-id`, `webhook-timestamp` and `webhook-signature` signed with the integration's secret",
  });
  app.get("/openapi.json", (c) => c.json(describeApi(app.getOpenAPI31Document(OPENAPI_CONFIG), new URL(c.req.url).origin)));

  app.get("/docs", (c) => {
    const doc = describeApi(app.getOpenAPI31Document(OPENAPI_CONFIG), new URL(c.req.url).origin);
    const routes = Object.entries(doc.paths ?? {}).flatMap(([path, item]) =>
      METHODS.filter((m) => item?.[m]).map((m) => ({ method: m.toUpperCase(), path, summary: item?.[m]?.summary ?? "" })),
    );
    return c.html(html`<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>gmcnn-edge API</title>
    <link rel="stylesheet" href="${SWAGGER_ASSETS}/swagger-ui.css" />
    <style>
      body { margin: 0; font-family: system-ui, sans-serif; }
      #routes { max-width: 960px; margin: 2rem auto; padding: 0 1rem; }
      #routes code { font-weight: 600; }
    </style>
  </head>
  <body>
    <div id="swagger-ui">
      <section id="routes">
        <h1>gmcnn-edge API</h1>
        <p>The machine-readable description is <a href="/openapi.json">/openapi.json</a>.</p>
        <ul>
          ${routes.map((r) => html`<li><code>${r.method} ${r.path}</code> ${r.summary}</li>`)}
        </ul>
      </section>
    </div>
    <script src="${SWAGGER_ASSETS}/swagger-ui-bundle.js"></script>
    <script nonce="${c.get("secureHeadersNonce") ?? ""}">
      ${raw(`if (window.SwaggerUIBundle) window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });`)}
    </script>
  </body>
</html>`);
  });
}
