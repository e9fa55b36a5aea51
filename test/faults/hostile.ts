/**
 * Requests the gateway must refuse without any effect (scenario 9): replays
 * with stale timestamps, bad and cross-workspace signatures, oversized and
 * malformed bodies, and clients that never finish their request.
 */
import { randomUUID } from "node:crypto";
import { connect } from "node:net";
import { sampleEmailEvent } from "../../cli/resend-samples.ts";
import { newMessageId, newWebhookSecret, signedHeaders, signWebhook } from "../../cli/sign.ts";
import type { HostileEvent, Ledger, Outcome } from "./ledger.ts";

export interface HostileRequest {
  kind: string;
  expected: number;
  send(baseUrl: string): Promise<Outcome>;
}

interface Context {
  workspaceId: string;
  secret: string;
  /** A second workspace's secret. */
  otherSecret: string;
}

/** Every kind of hostile request, each with a fresh svix id and email id planned in the ledger. */
export function hostileRequests(ledger: Ledger, context: Context): HostileRequest[] {
  const make = (kind: string, expected: number, build: (event: HostileEvent, body: string) => RequestInit & { query?: string }) => {
    const event: HostileEvent = { svixId: newMessageId(), workspaceId: context.workspaceId, emailId: randomUUID(), kind };
    ledger.planHostile(event);
    const body = JSON.stringify(sampleEmailEvent("email.delivered", { emailId: event.emailId, tags: { campaign_id: "hostile" } }));
    return {
      kind,
      expected,
      send: async (baseUrl: string): Promise<Outcome> => {
        const { query, ...init } = build(event, body);
        try {
          const response = await fetch(`${baseUrl}/webhooks/resend${query ?? `?workspaceId=${context.workspaceId}`}`, {
            method: "POST",
            ...init,
            signal: AbortSignal.timeout(10_000),
          });
          await response.arrayBuffer();
          ledger.record(event.svixId, response.status);
          return response.status;
        } catch {
          ledger.record(event.svixId, "no-answer");
          return "no-answer";
        }
      },
    };
  };
  const now = () => Math.floor(Date.now() / 1000);
  const json = { "content-type": "application/json" };
  const signed = (secret: string, event: HostileEvent, body: string, timestamp?: number) =>
    signedHeaders(secret, body, { id: event.svixId, timestamp });
  const big = (event: HostileEvent) =>
    JSON.stringify({ ...sampleEmailEvent("email.delivered", { emailId: event.emailId }), padding: "x".repeat(300 * 1024) });
  return [
    make("stale-timestamp", 401, (e, body) => ({ headers: { ...json, ...signed(context.secret, e, body, now() - 400) }, body })),
    make("future-timestamp", 401, (e, body) => ({ headers: { ...json, ...signed(context.secret, e, body, now() + 400) }, body })),
    make("bad-signature", 401, (e, body) => ({ headers: { ...json, ...signed(newWebhookSecret(), e, body) }, body })),
    make("cross-workspace-signature", 401, (e, body) => ({ headers: { ...json, ...signed(context.otherSecret, e, body) }, body })),
    make("tampered-body", 401, (e, body) => ({ headers: { ...json, ...signed(context.secret, e, body) }, body: body.replace("delivered", "complained") })),
    make("missing-signature", 401, (e, body) => ({ headers: { ...json, "svix-id": e.svixId, "svix-timestamp": String(now()) }, body })),
    make("oversized", 413, (e) => {
      const body = big(e);
      return { headers: { ...json, ...signed(context.secret, e, body) }, body };
    }),
    oversizedChunked(ledger, context, big),
    make("signed-not-json", 400, (e) => {
      const body = "{not json";
      return { headers: { ...json, ...signed(context.secret, e, body) }, body };
    }),
    make("signed-json-without-type", 400, (e) => {
      const body = JSON.stringify({ created_at: new Date().toISOString(), data: { email_id: e.emailId } });
      return { headers: { ...json, ...signed(context.secret, e, body) }, body };
    }),
    make("unknown-workspace", 404, (e, body) => ({
      query: `?workspaceId=nobody_${e.emailId.slice(0, 8)}`,
      headers: { ...json, ...signed(context.secret, e, body) },
      body,
    })),
    make("malformed-workspace-id", 400, (e, body) => ({
      query: `?workspaceId=${encodeURIComponent("a.b>c")}`,
      headers: { ...json, ...signed(context.secret, e, body) },
      body,
    })),
    make("wrong-method", 405, (e) => ({ method: "PUT", headers: { ...json, ...signed(context.secret, e, "{}") }, body: "{}" })),
    make("signature-of-other-id", 401, (e, body) => {
      const headers = signed(context.secret, e, body);
      return { headers: { ...json, ...headers, "svix-signature": signWebhook(context.secret, newMessageId(), now(), body) }, body };
    }),
  ];
}

/**
 * A slow-loris client: sends part of a request's headers and then a byte now and
 * then, never finishing. Resolves with how long the gateway let it hold the socket.
 */
export function slowLoris(port: number, workspaceId: string, giveUpMs = 60_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect(port, "127.0.0.1", () => {
      socket.write(`POST /webhooks/resend?workspaceId=${workspaceId} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n`);
    });
    const drip = setInterval(() => socket.writable && socket.write("X-Drip: 1\r\n"), 500);
    const giveUp = setTimeout(() => socket.destroy(new Error(`still connected after ${giveUpMs} ms`)), giveUpMs);
    socket.on("close", () => {
      clearInterval(drip);
      clearTimeout(giveUp);
      resolve(Date.now() - started);
    });
    socket.on("error", (error) => {
      clearInterval(drip);
      clearTimeout(giveUp);
      if (error.message.startsWith("still connected")) reject(error);
    });
    socket.resume();
  });
}

/**
 * A signed 300 KiB body sent chunked (no Content-Length) over a raw socket: the gateway must answer 413
 * without reading it all. A raw socket, because fetch reports a cut-off upload as an error even when
 * the server's 413 already arrived; here the status line is read from whatever the server sent.
 */
function oversizedChunked(ledger: Ledger, context: Context, big: (event: HostileEvent) => string): HostileRequest {
  const event: HostileEvent = { svixId: newMessageId(), workspaceId: context.workspaceId, emailId: randomUUID(), kind: "oversized-chunked" };
  ledger.planHostile(event);
  return {
    kind: event.kind,
    expected: 413,
    send: (baseUrl: string) =>
      new Promise<Outcome>((resolve) => {
        const body = big(event);
        const headers = signedHeaders(context.secret, body, { id: event.svixId });
        const url = new URL(baseUrl);
        let received = "";
        const socket = connect(Number(url.port), url.hostname, () => {
          socket.write(
            `POST /webhooks/resend?workspaceId=${context.workspaceId} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/json\r\n` +
              Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("") +
              "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
          );
          const bytes = Buffer.from(body);
          for (let i = 0; i < bytes.length && socket.writable; i += 16 * 1024) {
            const chunk = bytes.subarray(i, i + 16 * 1024);
            socket.write(`${chunk.length.toString(16)}\r\n`);
            socket.write(chunk);
            socket.write("\r\n");
          }
          if (socket.writable) socket.write("0\r\n\r\n");
        });
        const finish = () => {
          const status = /^HTTP\/1\.1 (\d{3})/.exec(received)?.[1];
          const outcome: Outcome = status ? Number(status) : "no-answer";
          ledger.record(event.svixId, outcome);
          resolve(outcome);
        };
        socket.setTimeout(10_000, () => socket.destroy());
        socket.on("data", (chunk) => (received += chunk.toString("latin1")));
        socket.on("error", () => undefined);
        socket.on("close", finish);
      }),
  };
}
