/**
 * One fresh connection per request (node:http, no agent). fetch's connection pool reuses sockets
 * that wrangler dev has closed after a long idle (a POST is not retried: EPIPE), which made
 * results depend on test timing; the edge itself is not involved.
 */
import { request } from "node:http";

export async function send(
  url: string,
  init: { method?: string; body?: FormData | string; headers?: Record<string, string> } = {},
) {
  const r = new Request(url, { method: init.method ?? (init.body ? "POST" : "GET"), body: init.body, headers: init.headers });
  const body = r.body ? Buffer.from(await r.arrayBuffer()) : undefined;
  const headers: Record<string, string> = {};
  r.headers.forEach((v, k) => {
    headers[k] = v;
  });
  if (body) headers["content-length"] = String(body.length);
  return new Promise<Response>((resolve, reject) => {
    const req = request(url, { method: r.method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(", ") : v);
        resolve(new Response(res.statusCode === 204 ? null : Buffer.concat(chunks), { status: res.statusCode, headers: h }));
      });
      res.on("error", reject);
    });
    // The edge may answer (413, 401) before it has read a large body: keep the answer, not EPIPE.
    req.on("error", (e: NodeJS.ErrnoException) => (e.code === "EPIPE" || e.code === "ECONNRESET" ? undefined : reject(e)));
    req.end(body);
  });
}
