/** A Hono app on a free 127.0.0.1 port for the Worker tests' Node servers; close() drops open connections. */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";

export async function serveLocal(fetch: (req: Request) => Response | Promise<Response>) {
  const server = serve({ fetch, port: 0, hostname: "127.0.0.1" });
  // Node closes a keep-alive connection after 5 s idle, while workerd may still reuse it: a test
  // that pauses ~5 s between two calls then saw "Network connection lost" (a 503 gpu-unavailable).
  // Idle connections stay open until close() drops them.
  (server as Server).keepAliveTimeout = 0;
  await new Promise<void>((r) => server.once("listening", () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        (server as Server).closeAllConnections();
        server.close(() => r());
      }),
  };
}
