import { Hono } from "hono";
import { serveLocal } from "./serve-local.ts";

export interface Behaviour {
  failFirst?: number;
  failStatus?: number;
  retryAfter?: string;
  status?: number;
  delayMs?: number;
}

export interface Recorded {
  headers: Record<string, string>;
  body: string;
  at: number;
  status: number;
  /** Whether the response has been sent (false while a `delayMs` holds it). */
  answered: boolean;
}

/** name -> [type, address]: public, private, rebinding to loopback, private IPv6. */
const DNS: Record<string, [1 | 28, string]> = {
  "public.example": [1, "93.184.216.34"],
  "evil.example": [1, "10.0.0.5"],
  "rebind.example": [1, "127.0.0.1"],
  "v6evil.example": [28, "fd00::1"],
};

export async function startReceiver(): Promise<{ url: string; close(): Promise<void> }> {
  const behaviours = new Map<string, Behaviour>();
  const hooks = new Map<string, Recorded[]>();
  const files = new Map<string, { bytes: Uint8Array; type: string }>();
  const app = new Hono();

  app.put("/behaviour/:name", async (c) => {
    behaviours.set(c.req.param("name"), (await c.req.json()) as Behaviour);
    return c.body(null, 204);
  });

  app.post("/hooks/:name", async (c) => {
    const name = c.req.param("name");
    const b = behaviours.get(name) ?? {};
    const list = hooks.get(name) ?? [];
    hooks.set(name, list);
    const headers: Record<string, string> = {};
    c.req.raw.headers.forEach((v, k) => {
      headers[k.toLowerCase()] = v;
    });
    const record: Recorded = { headers, body: await c.req.text(), at: Date.now(), status: 0, answered: false };
    const failing = list.length < (b.failFirst ?? 0);
    list.push(record);
    record.status = failing ? (b.failStatus ?? 500) : (b.status ?? 204);
    if (b.delayMs) await new Promise((r) => setTimeout(r, b.delayMs));
    const extra: Record<string, string> = failing && b.retryAfter !== undefined ? { "Retry-After": b.retryAfter } : {};
    record.answered = true;
    return c.body(null, record.status as 204, extra);
  });

  app.get("/hooks/:name", (c) => c.json(hooks.get(c.req.param("name")) ?? []));

  app.put("/files/:name", async (c) => {
    const type = c.req.header("content-type") ?? "application/octet-stream";
    files.set(c.req.param("name"), { bytes: new Uint8Array(await c.req.arrayBuffer()), type });
    return c.body(null, 204);
  });

  app.get("/files/:name", (c) => {
    const f = files.get(c.req.param("name"));
    if (!f) return c.text("no such file", 404);
    return c.body(f.bytes as Uint8Array<ArrayBuffer>, 200, { "Content-Type": f.type });
  });

  app.get("/redirect", (c) => c.redirect(c.req.query("to") ?? "/", 302));

  app.get("/dns-query", (c) => {
    const name = (c.req.query("name") ?? "").toLowerCase().replace(/\.$/, "");
    const type = (c.req.query("type") ?? "A").toUpperCase() === "AAAA" ? 28 : 1;
    const question = [{ name: `${name}.`, type }];
    const entry = DNS[name];
    const doc = !entry
      ? { Status: 3, Question: question }
      : {
          Status: 0,
          Question: question,
          Answer: entry[0] === type ? [{ name: `${name}.`, type, TTL: 300, data: entry[1] }] : [],
        };
    return c.body(JSON.stringify(doc), 200, { "Content-Type": "application/dns-json" });
  });

  return serveLocal(app.fetch);
}
