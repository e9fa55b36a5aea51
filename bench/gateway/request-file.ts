/**
 * The request files the load generators replay (bench/lib/requests.lua,
 * node-load.ts): raw HTTP/1.1 requests as records "<byte length>\n<request
 * bytes>", each sent once. A file is written in one pass, a few MiB at a
 * time, from a function that builds request number n.
 */
import { closeSync, openSync, writeSync } from "node:fs";

/** One webhook POST: where it goes, the provider's headers, its body and how many events it carries. */
export interface WebhookPost {
  path: string;
  headers: Record<string, string>;
  body: Buffer;
  events: number;
}

export interface RequestFileInfo {
  file: string;
  /** Requests in the file. */
  count: number;
  /** Events in the file (a SendGrid POST carries many). */
  events: number;
  createdAtMs: number;
  meanBodyBytes: number;
  minBodyBytes: number;
  maxBodyBytes: number;
}

/** The raw bytes of `post` as a client on loopback sends it. */
export function rawRequest(post: WebhookPost): Buffer {
  const headers = Object.entries(post.headers).map(([name, value]) => `${name}: ${value}\r\n`).join("");
  const head = `POST ${post.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}Content-Length: ${post.body.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, "latin1"), post.body]);
}

/** Writes `count` requests, number n being `build(n)`, and says what the file holds. */
export function writeRequests(file: string, count: number, build: (n: number) => WebhookPost): RequestFileInfo {
  const out = openSync(file, "w");
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = () => {
    writeSync(out, Buffer.concat(pending, pendingBytes));
    pending = [];
    pendingBytes = 0;
  };
  const createdAtMs = Date.now();
  let total = 0, min = Infinity, max = 0, events = 0;
  try {
    for (let n = 0; n < count; n++) {
      const post = build(n);
      const request = rawRequest(post);
      total += post.body.length;
      min = Math.min(min, post.body.length);
      max = Math.max(max, post.body.length);
      events += post.events;
      const length = Buffer.from(`${request.length}\n`, "latin1");
      pending.push(length, request);
      pendingBytes += length.length + request.length;
      if (pendingBytes > 4 << 20) flush();
    }
    flush();
  } finally {
    closeSync(out);
  }
  return { file, count, events, createdAtMs, meanBodyBytes: total / count, minBodyBytes: min, maxBodyBytes: max };
}
