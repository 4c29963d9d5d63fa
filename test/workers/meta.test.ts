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
    expect(doc.components.securitySchemes).toHaveProperty("bearer");
  });

  it("GET /docs serves Swagger UI", async () => {
    const res = await exports.default.fetch("http://edge/docs");
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("/openapi.json");
  });
});
