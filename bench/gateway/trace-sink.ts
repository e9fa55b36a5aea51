/**
 * Where the tracing row of the gateway benchmark exports its spans: a
 * loopback OTLP/HTTP endpoint that reads each export, counts it and its
 * bytes, and answers success — so the row measures the gateway's cost of
 * making, batching, encoding and sending spans, not a trace backend's.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

export interface TraceSink {
  /** For OTEL_EXPORTER_OTLP_ENDPOINT. */
  readonly endpoint: string;
  /** Export requests and body bytes received so far. */
  counts(): { requests: number; bytes: number };
  close(): Promise<void>;
}

export async function startTraceSink(): Promise<TraceSink> {
  let requests = 0;
  let bytes = 0;
  const server = createServer((req, res) => {
    req.on("data", (chunk: Buffer) => (bytes += chunk.length));
    req.on("end", () => {
      requests++;
      res.writeHead(200, { "content-type": "application/x-protobuf", "content-length": "0" }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    counts: () => ({ requests, bytes }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
