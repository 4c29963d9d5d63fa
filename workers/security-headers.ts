/**
 * Security headers (issue 20, item 5), with Hono's `secure-headers` middleware: one policy for
 * the Worker's responses (/docs, /openapi.json, every problem and API answer) and, through
 * web/build.ts, for the static pages (`/`, the demo) that Workers assets serve without the Worker.
 *
 * The CSP is the narrowest one the demo page, the widget and Swagger UI work under (checked in
 * Chromium by test/browser/csp.test.ts): scripts from this origin only (plus a per-request nonce
 * for /docs' one inline script, and `'wasm-unsafe-eval'` for onnxruntime-web's WASM), styles from
 * this origin and inline (the widget's shadow-root <style>, the demo's and Swagger UI's inline
 * styles), images also from data: and blob: (results are shown from blob URLs), workers from this
 * origin and blob:, no plugins, no <base>, forms to this origin only, and no framing by anyone
 * (`frame-ancestors 'none'` and `X-Frame-Options: DENY`). `X-Content-Type-Options: nosniff` and
 * `Referrer-Policy: no-referrer` everywhere.
 */
import { Hono, type MiddlewareHandler } from "hono";
import { NONCE, secureHeaders } from "hono/secure-headers";

type Options = NonNullable<Parameters<typeof secureHeaders>[0]>;

const policy = (scriptExtra: NonNullable<Options["contentSecurityPolicy"]>["scriptSrc"] = []): Options => ({
  contentSecurityPolicy: {
    defaultSrc: ["'self'"],
    scriptSrc: ["'self'", "'wasm-unsafe-eval'", ...(scriptExtra ?? [])],
    styleSrc: ["'self'", "'unsafe-inline'"],
    imgSrc: ["'self'", "data:", "blob:"],
    connectSrc: ["'self'", "blob:", "data:"],
    workerSrc: ["'self'", "blob:"],
    fontSrc: ["'self'", "data:"],
    objectSrc: ["'none'"],
    baseUri: ["'none'"],
    formAction: ["'self'"],
    frameAncestors: ["'none'"],
  },
  xFrameOptions: "DENY",
  xContentTypeOptions: "nosniff",
  referrerPolicy: "no-referrer",
  // Result URLs (/v1/jobs/{id}/result) may be loaded by other origins' pages (an <img> of a
  // signed URL), and the widget's files have their own rules in web/build.ts: no CORP here.
  crossOriginResourcePolicy: false,
});

/** The Worker's middleware: the policy, with a nonce per request for inline scripts (c.get("secureHeadersNonce")). */
export const securityHeaders = (): MiddlewareHandler => secureHeaders(policy([NONCE]));

/**
 * The same middleware's headers for the static HTML pages (no nonce: they have no inline
 * script), as web/build.ts writes them into `_headers`. Cross-origin opener and embedder
 * policies are left to `_headers`' own rules (cross-origin isolation for the WASM threads).
 */
export async function staticPageHeaders(): Promise<Record<string, string>> {
  const app = new Hono();
  app.use(secureHeaders({ ...policy(), crossOriginOpenerPolicy: false, crossOriginEmbedderPolicy: false }));
  app.get("/", (c) => c.text(""));
  const res = await app.request("/");
  const out: Record<string, string> = {};
  res.headers.forEach((v, k) => {
    if (k !== "content-type") out[k] = v;
  });
  return out;
}
