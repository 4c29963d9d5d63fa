/**
 * SDK vs /openapi.json: every SDK operation must be a documented route with the same fields,
 * query parameters, path parameters, success status and response properties (from the same
 * shared zod schemas); every customer route must be in the SDK. Returns the disagreements.
 */
import type { z } from "zod";
import { NOT_IN_SDK, OPERATIONS, type Operation } from "../../sdk/operations.ts";
import { LedgerPage } from "../../shared/schemas/accounts.ts";
import { DeliveryList, Job, JobList } from "../../shared/schemas/jobs.ts";
import { InpaintOptions } from "../../shared/schemas/options.ts";
import { BrowserToken } from "../../shared/schemas/tokens.ts";
import { UploadInfo } from "../../shared/schemas/uploads.ts";
import { RotatedWebhookSecret, WebhookSecret } from "../../shared/schemas/webhook-secrets.ts";

type Json = Record<string, unknown>;
export interface OpenApiDoc {
  paths: Record<string, Record<string, Json>>;
  components?: { schemas?: Record<string, Json> };
}

/** Shared schemas by the names operations.ts uses; null: known to the API only by its documentation. */
const RESPONSES: Record<string, z.ZodObject | null> = {
  Job,
  JobList,
  UploadInfo,
  LedgerPage,
  BrowserToken,
  DeliveryList,
  WebhookSecret,
  RotatedWebhookSecret,
  PluginList: null,
};
const HTTP_METHODS = ["get", "post", "put", "patch", "delete"];

function resolve(doc: OpenApiDoc, s: unknown): Json | undefined {
  const o = s as Json | undefined;
  const ref = o?.$ref as string | undefined;
  if (ref) return doc.components?.schemas?.[ref.replace("#/components/schemas/", "")];
  return o;
}
const propsOf = (doc: OpenApiDoc, s: unknown): string[] => Object.keys((resolve(doc, s)?.properties as Json) ?? {}).sort();
const same = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && [...a].sort().every((v, i) => v === [...b].sort()[i]);

/**
 * `pluginOptions`: the option names GET /v1/plugins lists; the SDK sends them through
 * `plugin_options`, so the inpaint and job routes may document them beside InpaintOptions.
 */
export function drift(
  doc: OpenApiDoc,
  ops: Record<string, Operation> = OPERATIONS,
  pending: readonly string[] = [],
  pluginOptions: readonly string[] = [],
): string[] {
  const out: string[] = [];
  const optionKeys = [...Object.keys(InpaintOptions.shape), ...pluginOptions];
  const covered = new Set<string>();
  for (const [name, op] of Object.entries(ops)) {
    const route = `${op.method.toUpperCase()} ${op.path}`;
    covered.add(route);
    const d = doc.paths[op.path]?.[op.method] as Json | undefined;
    if (!d) {
      if (!pending.includes(name)) out.push(`${name}: the SDK calls ${route}, which /openapi.json does not have`);
      continue;
    }
    const params = (d.parameters as { in: string; name: string }[] | undefined) ?? [];
    const inPath = [...op.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
    if (
      !same(
        params.filter((p) => p.in === "path").map((p) => p.name),
        inPath,
      )
    )
      out.push(`${name}: path parameters differ`);
    const query = params.filter((p) => p.in === "query").map((p) => p.name);
    if (!same(query, op.query ?? [])) out.push(`${name}: query parameters: API [${query}], SDK [${op.query ?? []}]`);
    const content = ((d.requestBody as Json | undefined)?.content as Record<string, { schema: unknown }>) ?? {};
    for (const [type, fields] of [
      ["multipart/form-data", op.form],
      ["application/json", op.json],
    ] as const) {
      const api = content[type] ? propsOf(doc, content[type].schema) : undefined;
      const sdk = fields ? [...fields, ...(op.options ? optionKeys : [])] : undefined;
      if (!api && !sdk) continue;
      if (!api || !sdk)
        out.push(`${name}: ${type} body: ${api ? "the API takes one, the SDK sends none" : "the API takes none"}`);
      else if (!same(api, sdk)) {
        const missing = api.filter((f) => !sdk.includes(f));
        const extra = sdk.filter((f) => !api.includes(f));
        out.push(`${name}: ${type} fields differ (API only: [${missing}], SDK only: [${extra}])`);
      }
    }
    const responses = (d.responses as Record<string, Json>) ?? {};
    const ok = responses[String(op.status)];
    if (!ok) {
      out.push(`${name}: the API documents no ${op.status} answer (it has ${Object.keys(responses).filter((s) => s < "300")})`);
      continue;
    }
    const body = ok.content as Record<string, { schema: unknown }> | undefined;
    if (op.response === "none") {
      if (body) out.push(`${name}: the API answers a body, the SDK expects none`);
    } else if (op.response === "binary") {
      if (!body || body["application/json"])
        out.push(`${name}: the SDK expects an image, the API documents ${Object.keys(body ?? {})}`);
    } else {
      const schema = body?.["application/json"]?.schema;
      const shared = RESPONSES[op.response];
      if (!schema) out.push(`${name}: the API documents no JSON answer`);
      else if (shared && !same(propsOf(doc, schema), Object.keys(shared.shape)))
        out.push(`${name}: ${op.response} properties: API [${propsOf(doc, schema)}], shared [${Object.keys(shared.shape)}]`);
    }
  }
  for (const [path, item] of Object.entries(doc.paths))
    for (const method of Object.keys(item).filter((m) => HTTP_METHODS.includes(m))) {
      const route = `${method.toUpperCase()} ${path}`;
      if (!covered.has(route) && !NOT_IN_SDK.some((re) => re.test(path))) out.push(`${route} has no SDK method`);
    }
  return out;
}
