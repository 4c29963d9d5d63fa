/** GET /docs works offline: Swagger UI from this deployment's own assets, and a plain route list. */
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

describe("GET /docs", () => {
  it("loads Swagger UI from /assets/swagger-ui (no other host) and lists every route in plain HTML", async () => {
    const res = await exports.default.fetch("http://edge/docs");
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('src="/assets/swagger-ui/swagger-ui-bundle.js"');
    expect(html).toContain('href="/assets/swagger-ui/swagger-ui.css"');
    // Every src/href is a path on this origin: offline, nothing is fetched from a CDN.
    for (const m of html.matchAll(/(?:src|href)="([^"]+)"/g)) expect(m[1]).toMatch(/^\//);
    const doc = (await (await exports.default.fetch("http://edge/openapi.json")).json()) as { paths: Record<string, object> };
    for (const [path, item] of Object.entries(doc.paths))
      for (const method of Object.keys(item)) expect(html).toContain(`${method.toUpperCase()} ${path}`);
  });
});

describe("/openapi.json for Swagger UI's Try it out and Authorize", () => {
  type Prop = { format?: string; default?: unknown; example?: unknown; examples?: unknown[] };
  type FormSchema = { properties: Record<string, Prop>; required?: string[] };
  const doc = async () =>
    (await (await exports.default.fetch("http://edge/openapi.json")).json()) as {
      paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: FormSchema }> } }>>;
      components: { securitySchemes: Record<string, object> };
    };

  it("Authorize lists the bearer key first, the admin token second", async () => {
    expect(Object.keys((await doc()).components.securitySchemes).slice(0, 2)).toEqual(["bearer", "admin"]);
  });

  it("no optional multipart field of /v1/inpaint or /v1/jobs is left to Swagger's placeholders (`string`, `0`)", async () => {
    const d = await doc();
    for (const path of ["/v1/inpaint", "/v1/jobs"]) {
      const schema = d.paths[path].post.requestBody?.content["multipart/form-data"].schema as FormSchema;
      const props = Object.entries(schema.properties);
      expect(props.length, path).toBeGreaterThan(5);
      for (const [name, p] of props) {
        if (p.format === "binary" || schema.required?.includes(name)) continue;
        // Swagger UI fills a field with examples[0], else default, else example, else a placeholder.
        const filled = p.examples?.[0] ?? p.default ?? p.example;
        expect(filled, `${path} ${name}`).not.toBeUndefined();
      }
      // The inputs are blank (left out of the request), so image + mask files alone make a valid call.
      for (const name of ["image_id", "mask_shapes"]) expect(schema.properties[name].examples, `${path} ${name}`).toEqual([""]);
    }
  });
});
