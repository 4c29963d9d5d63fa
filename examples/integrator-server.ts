/**
 * What an integrator runs: a page on ITS OWN origin with the `<gmcnn-inpaint>` widget, and a token
 * route that mints a short-lived browser token with the API key, which stays on this server.
 *
 *   GMCNN_API=http://127.0.0.1:8787 GMCNN_API_KEY=$(cat .wrangler/dev-api-key) npx tsx examples/integrator-server.ts
 *   open http://127.0.0.1:3000/
 *
 * The widget script, its runtime and its model come from the API's origin (CORS); the page calls
 * the API directly with the token.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Gmcnn } from "../sdk/index.ts";

export const page = (apiOrigin: string) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>My photo app</title>
<script type="module" src="${apiOrigin}/widget/gmcnn-inpaint.js"></script>
<style>body { font-family: system-ui, sans-serif; max-width: 900px; margin: 2rem auto; padding: 0 1rem; }
gmcnn-inpaint { --gmcnn-accent: #0a7d5a; --gmcnn-radius: 6px; }</style></head>
<body><h1>My photo app</h1>
<gmcnn-inpaint api="${apiOrigin}" token-url="/gmcnn-token" src="${apiOrigin}/examples/coffee.png" local-inference="fallback"></gmcnn-inpaint>
<script type="module">
  const el = document.querySelector("gmcnn-inpaint");
  el.addEventListener("gmcnn:result", (e) => console.log("inpainted", e.detail.blob.size, "bytes from", e.detail.where));
  el.addEventListener("gmcnn:error", (e) => console.warn(e.detail.error.problem ?? e.detail.error));
</script></body></html>`;

/** Serves the page and the token route on `port` (0: any free port); resolves with its URL. */
export function startIntegratorServer(api: string, apiKey: string, port = 3000): Promise<{ url: string; close(): void }> {
  const gmcnn = new Gmcnn({ baseUrl: api, apiKey });
  const server = createServer(async (req, res) => {
    try {
      if (req.method === "POST" && req.url === "/gmcnn-token") {
        // Your own session check goes here: only your signed-in users get a token.
        const origin = `http://${req.headers.host}`;
        const t = await gmcnn.tokens.create({ scopes: ["inpaint"], ttl_seconds: 900, origin });
        res
          .writeHead(200, { "content-type": "application/json" })
          .end(JSON.stringify({ token: t.token, expires_at: t.expires_at }));
        return;
      }
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(page(api));
    } catch (e) {
      res.writeHead(502, { "content-type": "text/plain" }).end(String((e as Error).message));
    }
  });
  return new Promise((resolve) =>
    server.listen(port, "127.0.0.1", () =>
      resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() }),
    ),
  );
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const apiKey = process.env.GMCNN_API_KEY;
  if (!apiKey) throw new Error("set GMCNN_API_KEY (npm start prints the dev key)");
  const api = process.env.GMCNN_API ?? "http://127.0.0.1:8787";
  startIntegratorServer(api, apiKey, Number(process.env.PORT ?? 3000)).then((s) =>
    console.log(`${s.url}/ (widget and API from ${api})`),
  );
}
