/**
 * Input servers that break while the body is read (issue #20, item 11), on raw sockets because no
 * HTTP framework sends a broken response on purpose: GET /short-length declares more bytes than it
 * sends and closes, /closed-mid-body sends one chunk and drops the connection, /bad-chunked sends
 * a chunk size that is not hex. Each starts with a real PNG signature and header. Anything under
 * /hang/ is never answered (a paused GPU function, item 7).
 */
import { createServer, type Socket } from "node:net";

const PNG_START = Buffer.from([
  0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 0, 0, 0, 16, 0, 0, 0, 16, 8, 6, 0, 0, 0,
]);

function answer(path: string, sock: Socket): void {
  if (path.startsWith("/hang/")) return; // a paused server: the connection stays open, unanswered
  const head = (h: string) => sock.write(`HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nConnection: close\r\n${h}\r\n`);
  if (path === "/short-length") {
    head("Content-Length: 100000\r\n");
    sock.end(PNG_START);
  } else if (path === "/closed-mid-body") {
    head("Transfer-Encoding: chunked\r\n");
    sock.write(`${PNG_START.length.toString(16)}\r\n`);
    sock.write(PNG_START);
    sock.write("\r\n", () => sock.destroy());
  } else if (path === "/bad-chunked") {
    head("Transfer-Encoding: chunked\r\n");
    sock.end("zz\r\nnot a chunk\r\n0\r\n\r\n");
  } else sock.end("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}

export async function startBrokenInputs(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((sock) => {
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
    sock.on("error", () => {});
    let buf = "";
    sock.on("data", (d) => {
      buf += d.toString("latin1");
      if (!buf.includes("\r\n\r\n")) return;
      const path = buf.split(" ")[1] ?? "/";
      buf = "";
      answer(path.split("?")[0], sock);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
