import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

describe("health and docs", () => {
  it("GET /healthz", async () => {
    const res = await exports.default.fetch("http://edge/healthz");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok", gpu_backend: "http" });
  });

  it("GET /openapi.json documents the inpaint form from the shared schema, and its problems", async () => {
    const doc = (await (await exports.default.fetch("http://edge/openapi.json")).json()) as {
      openapi: string;
      paths: Record<
        string,
        Record<string, { requestBody: { content: Record<string, { schema: { properties: object } }> }; responses: object }>
      >;
      components: { securitySchemes: object };
    };
    expect(doc.openapi).toBe("3.1.0");
    const op = doc.paths["/v1/inpaint"].post;
    const props = op.requestBody.content["multipart/form-data"].schema.properties;
    expect(Object.keys(props)).toEqual(expect.arrayContaining(["image", "mask", "hd_strategy", "dilate", "output_format"]));
    expect(Object.keys(op.responses)).toEqual(
      expect.arrayContaining(["200", "400", "401", "413", "415", "422", "502", "503", "504"]),
    );
    expect(doc.paths["/healthz"]).toBeTruthy();
    // Jobs, webhooks and incoming hooks are documented too, the job form with its webhook fields.
    for (const path of ["/v1/jobs", "/v1/jobs/{id}", "/v1/jobs/{id}/cancel", "/v1/jobs/{id}/result", "/v1/jobs/{id}/deliveries"])
      expect(doc.paths[path], path).toBeTruthy();
    for (const path of ["/v1/webhooks/default/secret", "/v1/hooks/{integration}", "/v1/admin/integrations"])
      expect(doc.paths[path], path).toBeTruthy();
    const job = doc.paths["/v1/jobs"].post.requestBody.content;
    expect(Object.keys(job["multipart/form-data"].schema.properties)).toEqual(
      expect.arrayContaining(["image", "webhook", "webhook_events_filter", "dilate"]),
    );
    expect(Object.keys(job["application/json"].schema.properties)).toEqual(expect.arrayContaining(["image_url", "mask_shapes"]));
    expect(doc.components.securitySchemes).toHaveProperty("bearer");
  });

  it("GET /docs serves Swagger UI", async () => {
    const res = await exports.default.fetch("http://edge/docs");
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("/openapi.json");
  });
});
