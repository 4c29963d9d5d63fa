/**
 * The SDK inside workerd (the Workers runtime), against the Worker itself, and the drift check
 * between the SDK's operation table and this Worker's /openapi.json.
 */
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { Gmcnn, GmcnnError } from "../../sdk/index.ts";
import { encodeImage } from "../../workers/codecs.ts";
import { drift, type OpenApiDoc } from "../sdk/drift.ts";
import { photo, testEnv } from "./helpers.ts";

/** Routes other issues are adding; checked in full as soon as /openapi.json has them. */
const PENDING: string[] = [];

const doc = async () => (await (await exports.default.fetch("http://edge/openapi.json")).json()) as OpenApiDoc;
/** The options the loaded plugins add (GET /v1/plugins), which the SDK sends as plugin_options. */
async function pluginOptions(): Promise<string[]> {
  const res = await exports.default.fetch("http://edge/v1/plugins");
  if (!res.ok) return [];
  const { plugins } = (await res.json()) as { plugins: { options?: Record<string, unknown> }[] };
  return plugins.flatMap((p) => Object.keys(p.options ?? {}));
}
const viaWorker: typeof fetch = (input, init) => exports.default.fetch(new Request(input, init));

describe("SDK vs /openapi.json", () => {
  it("agree", async () => {
    expect(drift(await doc(), undefined, PENDING, await pluginOptions())).toEqual([]);
  });

  it("disagree when a route changes without the SDK", async () => {
    const base = await doc();
    const plugins = await pluginOptions();
    const clone = () => structuredClone(base);
    // A new form field on /v1/inpaint.
    const a = clone();
    const form = (a.paths["/v1/inpaint"].post as { requestBody: { content: Record<string, { schema: { properties: object } }> } })
      .requestBody.content["multipart/form-data"].schema;
    form.properties = { ...form.properties, sharpen: { type: "boolean" } };
    expect(drift(a, undefined, PENDING, plugins).join("\n")).toMatch(
      /inpaint: multipart\/form-data fields differ \(API only: \[sharpen\]/,
    );
    // A renamed path.
    const b = clone();
    b.paths["/v1/jobs/{id}/stop"] = b.paths["/v1/jobs/{id}/cancel"];
    delete b.paths["/v1/jobs/{id}/cancel"];
    const bd = drift(b, undefined, PENDING, plugins).join("\n");
    expect(bd).toContain("jobs.cancel: the SDK calls POST /v1/jobs/{id}/cancel, which /openapi.json does not have");
    expect(bd).toContain("POST /v1/jobs/{id}/stop has no SDK method");
    // A response property the shared schema does not have.
    const c = clone();
    const ok = (
      c.paths["/v1/uploads"].post as {
        responses: Record<string, { content: Record<string, { schema: { properties: object } }> }>;
      }
    ).responses["201"].content["application/json"].schema;
    ok.properties = { ...ok.properties, url: { type: "string" } };
    expect(drift(c, undefined, PENDING, plugins).join("\n")).toMatch(/uploads\.create: UploadInfo properties/);
  });
});

describe("the SDK in the Workers runtime", () => {
  const sdk = new Gmcnn({ baseUrl: "http://edge", apiKey: testEnv.TEST_API_KEY, fetch: viaWorker, retry: { retries: 0 } });

  it("inpaints with shapes and throws GmcnnError with the problem document", async () => {
    const png = await encodeImage(photo(32, 24), "png", 90);
    const r = await sdk.inpaint({ image: png, mask: [{ type: "rect", x: 8, y: 6, width: 6, height: 5 }] });
    expect(r.contentType).toBe("image/png");
    expect(r.requestId).toBeTruthy();
    expect(r.blob.size).toBeGreaterThan(0);
    const e = await sdk.inpaint({ image: png, mask: { shapes: [] }, dilate: 999 }).catch((x) => x);
    expect(e).toBeInstanceOf(GmcnnError);
    expect(e.status).toBe(400);
    expect(e.kind).toBe("invalid-options");
    expect(e.problem.type).toBe("https://gmcnn-edge.dev/problems/invalid-options");
    expect(e.requestId).toBeTruthy();
  });
});
