/**
 * Fallback load generator when `wrk` is not installed: the same closed loop
 * as wrk (N keep-alive connections, one request in flight on each), replaying
 * the same raw request file, over raw TCP sockets to keep the client cheap.
 * Runs as its own process and prints the same BENCH_JSON line as requests.lua.
 *
 *   node bench/lib/node-load.ts <port> <file> <start> <connections> <seconds> [limit]
 *
 * With a limit (as requests.lua), no more than that many requests are taken.
 */
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";

const [port, file, start, connections, seconds, limitArg] = process.argv.slice(2);
const limit = Number(limitArg ?? 0);
const data = readFileSync(file!);
const requests: Buffer[] = [];
for (let pos = 0; pos < data.length; ) {
  const newline = data.indexOf(10, pos);
  const length = Number(data.subarray(pos, newline).toString("latin1"));
  requests.push(data.subarray(newline + 1, newline + 1 + length));
  pos = newline + 1 + length;
}
let index = Number(start) % requests.length;
let sent = 0, wrapped = 0, completed = 0, non2xx = 0, errors = 0;
const latenciesUs: number[] = [];
const startedAt = performance.now();
const endAt = startedAt + Number(seconds) * 1000;

const next = (): Buffer => {
  if (index >= requests.length) (index = 0), wrapped++;
  sent++;
  return requests[index++]!;
};

/** Reads HTTP/1.1 responses (Content-Length or chunked) and sends the next request on each. */
function drive(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    let buffer: Buffer = Buffer.alloc(0);
    let sentAt = 0;
    const send = () => {
      if (performance.now() >= endAt || (limit > 0 && sent >= limit)) return void (socket.end(), resolve());
      sentAt = performance.now();
      socket.write(next());
    };
    socket.on("data", (chunk: Buffer) => {
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
      for (;;) {
        const headEnd = buffer.indexOf("\r\n\r\n");
        if (headEnd === -1) return;
        const head = buffer.subarray(0, headEnd).toString("latin1");
        let total: number;
        const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        if (length) total = headEnd + 4 + Number(length[1]);
        else {
          const last = buffer.indexOf("0\r\n\r\n", headEnd + 4);
          if (last === -1) return;
          total = last + 5;
        }
        if (buffer.length < total) return;
        const status = Number(head.slice(9, 12));
        if (status < 200 || status >= 400) non2xx++;
        completed++;
        latenciesUs.push((performance.now() - sentAt) * 1000);
        buffer = buffer.subarray(total);
        send();
      }
    });
    socket.on("error", () => (errors++, resolve()));
    socket.on("close", () => resolve());
    send();
  });
}

await Promise.all(
  Array.from({ length: Number(connections) }, () => {
    const socket = connect({ port: Number(port), host: "127.0.0.1", noDelay: true });
    return new Promise<void>((resolve) => socket.once("connect", resolve).once("error", resolve)).then(() => drive(socket));
  }),
);
const durationUs = Math.round((performance.now() - startedAt) * 1000);
latenciesUs.sort((a, b) => a - b);
const at = (q: number) => Math.round(latenciesUs[Math.min(latenciesUs.length - 1, Math.floor(q * latenciesUs.length))] ?? 0);
process.stdout.write(
  `\nBENCH_JSON ${JSON.stringify({ requests: completed, durationUs, p50Us: at(0.5), p90Us: at(0.9), p99Us: at(0.99), maxUs: at(1), non2xx, errors, sent, wrapped })}\n`,
);
