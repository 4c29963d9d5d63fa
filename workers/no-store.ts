/**
 * Responses that carry a secret (webhook signing secrets, API keys, browser tokens, an
 * integration's secret): `Cache-Control: no-store`, so no browser, proxy or CDN cache keeps one.
 */
import type { MiddlewareHandler } from "hono";

export const noStore = (): MiddlewareHandler => async (c, next) => {
  await next();
  c.res.headers.set("Cache-Control", "no-store");
};
