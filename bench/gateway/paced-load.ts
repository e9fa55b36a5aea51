/**
 * An open-loop load generator for the flood benchmark: sends pre-built raw
 * HTTP/1.1 requests (the record file of events.ts) at a fixed rate over
 * keep-alive connections, whatever the server's answers take, and measures
 * each latency from the moment the request was due — so time spent waiting
 * for a free connection counts (no coordinated omission). A closed loop (wrk)
 * would instead slow down with the server and hide what a flood does to
 * latency. Runs as its own process; prints one BENCH_JSON line.
 *
 *   node bench/gateway/paced-load.ts <port> <file> <rate/s> <connections> <seconds> <local address> <first record>
 */
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";

const [port, file, rate, connections, seconds, localAddress, first] = process.argv.slice(2);
const data = readFileSync(file!);
const requests: Buffer[] = [];
for (let pos = 0; pos < data.length; ) {
  const newline = data.indexOf(10, pos);
  const length = Number(data.subarray(pos, newline).toString("latin1"));
  requests.push(data.subarray(newline + 1, newline + 1 + length));
  pos = newline + 1 + length;
}

const offset = Number(first ?? 0);
const intervalMs = 1000 / Number(rate);
const total = Math.floor(Number(seconds) * Number(rate));
const latenciesUs: number[] = [];
/** How late this process itself got round to each request (CPU starvation of the generator, not the server). */
const lagsUs: number[] = [];
const statuses: Record<string, number> = {};
let errors = 0;
let sent = 0;
let answered = 0;
/** Due times of requests waiting for a free connection. */
const backlog: number[] = [];
const idle: Conn[] = [];

interface Conn {
  socket: Socket;
  dueAt: number;
  buffer: Buffer;
}

const startedAt = performance.now() + 50;

function send(conn: Conn, dueAt: number): void {
  conn.dueAt = dueAt;
  conn.socket.write(requests[(offset + sent++) % requests.length]!);
}

function onData(conn: Conn, chunk: Buffer): void {
  conn.buffer = conn.buffer.length === 0 ? chunk : Buffer.concat([conn.buffer, chunk]);
  for (;;) {
    const headEnd = conn.buffer.indexOf("\r\n\r\n");
    if (headEnd === -1) return;
    const head = conn.buffer.subarray(0, headEnd).toString("latin1");
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    let end: number;
    if (length) end = headEnd + 4 + Number(length[1]);
    else {
      // Chunked (the gateway's short answers): complete once the last chunk arrived.
      const last = conn.buffer.indexOf("0\r\n\r\n", headEnd + 4);
      if (last === -1) return;
      end = last + 5;
    }
    if (conn.buffer.length < end) return;
    conn.buffer = conn.buffer.subarray(end);
    const status = head.slice(9, 12);
    statuses[status] = (statuses[status] ?? 0) + 1;
    latenciesUs.push((performance.now() - conn.dueAt) * 1000);
    answered++;
    // A closed connection (413, or the server's choice) is replaced, so the pool keeps its size.
    if (/\r\nconnection:\s*close/i.test(head)) {
      conn.socket.destroy();
      void open().then((fresh) => fresh && release(fresh));
      return;
    }
    release(conn);
  }
}

function release(conn: Conn): void {
  const due = backlog.shift();
  if (due !== undefined) send(conn, due);
  else idle.push(conn);
}

function open(): Promise<Conn | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ port: Number(port), host: "127.0.0.1", localAddress, noDelay: true });
    const conn: Conn = { socket, dueAt: 0, buffer: Buffer.alloc(0) };
    socket.once("connect", () => resolve(conn));
    socket.on("data", (chunk: Buffer) => onData(conn, chunk));
    socket.on("error", () => {
      errors++;
      resolve(undefined);
    });
  });
}

const pool = (await Promise.all(Array.from({ length: Number(connections) }, open))).filter((conn): conn is Conn => conn !== undefined);
idle.push(...pool);

let scheduled = 0;
await new Promise<void>((resolve) => {
  const tick = () => {
    const now = performance.now();
    while (scheduled < total && startedAt + scheduled * intervalMs <= now) {
      const dueAt = startedAt + scheduled++ * intervalMs;
      lagsUs.push((now - dueAt) * 1000);
      const conn = idle.pop();
      if (conn) send(conn, dueAt);
      else backlog.push(dueAt);
    }
    if (scheduled < total) setTimeout(tick, Math.max(0, Math.min(5, startedAt + scheduled * intervalMs - now)));
    else resolve();
  };
  tick();
});
// Answers still owed get a few seconds; what is left counts as errors.
const deadline = performance.now() + 5000;
while (answered < total && performance.now() < deadline) {
  await new Promise((resolve) => setTimeout(resolve, 5));
}
const durationUs = Math.round((performance.now() - startedAt) * 1000);
for (const conn of pool) conn.socket.destroy();
latenciesUs.sort((a, b) => a - b);
lagsUs.sort((a, b) => a - b);
const quantile = (values: number[], q: number) => Math.round(values[Math.min(values.length - 1, Math.floor(q * values.length))] ?? 0);
const at = (q: number) => quantile(latenciesUs, q);
process.stdout.write(
  `\nBENCH_JSON ${JSON.stringify({ scheduled: total, answered, durationUs, p50Us: at(0.5), p90Us: at(0.9), p99Us: at(0.99), maxUs: at(1), statuses, lagP99Us: quantile(lagsUs, 0.99), cpuUs: process.cpuUsage().user + process.cpuUsage().system, latenciesUs: latenciesUs.map(Math.round), unanswered: total - answered, connectionErrors: errors })}\n`,
);
process.exit(0);
