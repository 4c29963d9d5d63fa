/** GET /openapi.json (generated from the zod schemas of every route) and GET /docs (Swagger UI). */
import { swaggerUI } from "@hono/swagger-ui";
import type { AppInstance } from "../app-env.ts";

export function registerDocs(app: AppInstance): void {
  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    description: "An API key (secret API_KEYS; `npm start` prints the dev key)",
  });
  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "gmcnn-edge",
      version: "1",
      description: "Image inpainting with GMCNN. Errors are RFC 9457 application/problem+json.",
    },
  });
  app.get("/docs", swaggerUI({ url: "/openapi.json", title: "gmcnn-edge API" }));
}
