/**
 * The bad half of the flood benchmark: raw HTTP/1.1 webhook requests a
 * gateway must refuse, in equal parts — unsigned (no svix headers), signed
 * with a secret that is not the workspace's (401, then 429 once the source is
 * known to keep failing), and for workspaces that do not exist (404; a
 * distinct id each, the case a per-id miss cache does not help with). Bodies
 * are the same realistic events as the good traffic, so reading them costs
 * the same. Same record format as events.ts ("<length>\n<raw request>").
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { newWebhookSecret } from "../../cli/sign.ts";
import { SigningKey } from "../../services/webhook-gateway/webhook/signature.ts";
import { eventBody } from "./events.ts";

export const floodKinds = ["unsigned", "bad_signature", "unknown_workspace"] as const;
export type FloodKind = (typeof floodKinds)[number];

/** Writes `count` bad requests against `workspaceId`, cycling through the kinds. */
export function writeFloodFile(options: { file: string; count: number; workspaceId: string; kinds?: readonly FloodKind[] }): void {
  const kinds = options.kinds ?? floodKinds;
  const forger = new SigningKey(newWebhookSecret());
  const out = openSync(options.file, "w");
  const now = new Date();
  const timestamp = Math.floor(now.getTime() / 1000);
  let pending: Buffer[] = [];
  let bytes = 0;
  for (let n = 0; n < options.count; n++) {
    const kind = kinds[n % kinds.length]!;
    const body = Buffer.from(eventBody(n, now));
    const id = `msg_flood_${n.toString(36)}`;
    const workspaceId = kind === "unknown_workspace" ? `nobody_${n.toString(36)}` : options.workspaceId;
    const signature = kind === "unsigned" ? "" : `svix-id: ${id}\r\nsvix-timestamp: ${timestamp}\r\nsvix-signature: v1,${forger.sign(id, timestamp, body)}\r\n`;
    const head =
      `POST /webhooks/resend?workspaceId=${workspaceId} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${body.length}\r\n${signature}\r\n`;
    const request = Buffer.concat([Buffer.from(head, "latin1"), body]);
    const length = Buffer.from(`${request.length}\n`, "latin1");
    pending.push(length, request);
    bytes += length.length + request.length;
    if (bytes > 4 << 20) {
      writeSync(out, Buffer.concat(pending, bytes));
      pending = [];
      bytes = 0;
    }
  }
  writeSync(out, Buffer.concat(pending, bytes));
  closeSync(out);
}
