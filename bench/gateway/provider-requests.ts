/**
 * The other providers' webhooks for load, beside Resend's (events.ts): the
 * same campaign of events — the same mix of kinds, recipients, links and
 * custom data — in SendGrid's and SES's shapes (cli/provider-samples.ts),
 * signed as each provider signs (cli/provider-sign.ts). A SendGrid POST
 * carries an array of events; SES arrives through SNS, one event per POST,
 * signed with RSA (SignatureVersion 1: SHA1, 2: SHA256). Every event is new:
 * SendGrid's sg_event_id and SNS's MessageId are random, and the message ids
 * are distinct per event number.
 */
import type { KeyObject } from "node:crypto";
import { sendgridEvent, sesMessage, type ProviderSample, type SampleKind } from "../../cli/provider-samples.ts";
import { sendgridRequest, sesRequest, type SignedRequest, type SnsSigner } from "../../cli/provider-sign.ts";
import type { EmailEventType } from "../../cli/resend-samples.ts";
import { campaignTags, eventMix, hex, isSoftBounce, linkOf, recipientOf } from "./events.ts";
import { writeRequests, type RequestFileInfo, type WebhookPost } from "./request-file.ts";

const kindOfType: Record<EmailEventType, SampleKind> = {
  "email.sent": "sent",
  "email.delivered": "delivered",
  "email.delivery_delayed": "delivery_delayed",
  "email.opened": "opened",
  "email.clicked": "clicked",
  "email.bounced": "hard_bounce",
  "email.complained": "complained",
  "email.failed": "failed",
  "email.suppressed": "suppressed",
};

/** The kind of event number `n`: Resend's campaign mix (events.ts), bounces soft one time in three as there. */
export function kindOf(n: number): SampleKind {
  const kind = kindOfType[eventMix[n % eventMix.length]!];
  return kind === "hard_bounce" && isSoftBounce(n) ? "soft_bounce" : kind;
}

/** Event number `n` as the provider samples take it. */
export function sampleOf(n: number, at: Date, run: string): ProviderSample {
  return { messageId: `${run}${hex(n * 31 + 7, 24)}.${n.toString(36)}`, to: [recipientOf(n)], at, link: linkOf(n), tags: campaignTags(n) };
}

const post = (provider: string, workspaceId: string, request: SignedRequest, userAgent: string, events: number): WebhookPost => ({
  path: `/webhooks/${provider}?workspaceId=${workspaceId}`,
  headers: { "user-agent": userAgent, ...request.headers },
  body: Buffer.from(request.body),
  events,
});

/** One SendGrid POST: events `first` … `first + size - 1` as one signed array. */
export function sendgridBatch(privateKey: KeyObject, workspaceId: string, first: number, size: number, at: Date, run: string): WebhookPost {
  const events = Array.from({ length: size }, (_, i) => sendgridEvent(kindOf(first + i), sampleOf(first + i, at, run)));
  return post("sendgrid", workspaceId, sendgridRequest(privateKey, events, Math.floor(at.getTime() / 1000)), "SendGrid Event API", size);
}

/** One SNS POST carrying SES's event number `n`, signed with SignatureVersion `version`. */
export function sesNotification(signer: SnsSigner, workspaceId: string, n: number, version: "1" | "2", at: Date, run: string): WebhookPost {
  const request = sesRequest(signer, sesMessage(kindOf(n), sampleOf(n, at, run)), { version });
  return post("ses", workspaceId, request, "Amazon Simple Notification Service Agent", 1);
}

/** Writes `count` SendGrid POSTs of `batchSize` events each; `run` keeps message ids distinct across files. */
export function writeSendgridFile(options: { file: string; count: number; batchSize: number; workspaceId: string; privateKey: KeyObject; run: string }): RequestFileInfo {
  const at = new Date();
  return writeRequests(options.file, options.count, (n) => sendgridBatch(options.privateKey, options.workspaceId, n * options.batchSize, options.batchSize, at, options.run));
}

/** Writes `count` SNS POSTs of SES events (RSA signing: about 0.3 ms each). */
export function writeSesFile(options: { file: string; count: number; version: "1" | "2"; workspaceId: string; signer: SnsSigner; run: string }): RequestFileInfo {
  const at = new Date();
  return writeRequests(options.file, options.count, (n) => sesNotification(options.signer, options.workspaceId, n, options.version, at, options.run));
}
