/**
 * The baseline: what a user writes from Resend's docs — a bare `node:http`
 * handler that reads the body, verifies it with the `svix` package, parses the
 * JSON (svix 2.x `verify` returns nothing) and answers 200. Nothing is stored.
 *
 *   BASELINE_SECRET=whsec_... node bench/gateway/baseline-server.ts   (prints "listening <port>")
 */
import { createServer } from "node:http";
import { Webhook } from "svix";

const webhook = new Webhook(process.env.BASELINE_SECRET!);
const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", () => {
    try {
      const payload = Buffer.concat(chunks).toString("utf8");
      webhook.verify(payload, req.headers as Record<string, string>);
      const event = JSON.parse(payload) as { type?: unknown };
      if (typeof event.type !== "string") throw new Error("no type");
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"ok":true}');
    } catch {
      res.writeHead(400, { "content-type": "application/json" });
      res.end('{"ok":false}');
    }
  });
});
server.listen(Number(process.env.BASELINE_PORT ?? 0), "127.0.0.1", () => {
  const address = server.address();
  process.stdout.write(`listening ${typeof address === "object" && address ? address.port : 0}\n`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)).closeAllConnections());
