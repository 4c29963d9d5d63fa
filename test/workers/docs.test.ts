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
