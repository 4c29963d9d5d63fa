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

/** Where web/build.ts puts swagger-ui-dist's files among the static assets. */
export const SWAGGER_ASSETS = "/assets/swagger-ui";

const METHODS = ["get", "post", "put", "patch", "delete"] as const;

export function registerDocs(app: AppInstance): void {
  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    description: "An API key (secret API_KEYS; `npm start` prints the dev key), or a browser token from POST /v1/tokens",
  });
  app.doc31("/openapi.json", OPENAPI_CONFIG);

  app.get("/docs", (c) => {
    const doc = app.getOpenAPI31Document(OPENAPI_CONFIG);
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
    <script>
      ${raw(`if (window.SwaggerUIBundle) window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });`)}
    </script>
  </body>
</html>`);
  });
}
