/**
 * How each provider's webhook request of a planned delivery is identified and signed, written from the
 * providers' documentation (cli/provider-sign.ts) and not from the gateway's adapters: the ledger keys each
 * event by the envelope id the gateway must give it, so an adapter that named an event otherwise would show
 * as lost (and its stored copy as unplanned), never pass unnoticed.
 */
import { createHash } from "node:crypto";
import { mailgunRequest, postmarkRequest, sendgridRequest, sesRequest, type SignedRequest } from "../../cli/provider-sign.ts";
import { signedHeaders } from "../../cli/sign.ts";
import type { ProviderKeys } from "./provider-keys.ts";
import type { PlannedDelivery } from "./workload.ts";

/**
 * Postmark gives no event id: the gateway documents its own (services/webhook-gateway/providers/postmark.ts)
 * as `pm_` + hex SHA-256 of [RecordType, MessageID, event time, bounce ID, recipient, link], each verbatim.
 */
export function postmarkEventId(record: Record<string, unknown>): string {
  const type = String(record.RecordType);
  const time = { Delivery: record.DeliveredAt, Bounce: record.BouncedAt, SpamComplaint: record.BouncedAt, Open: record.ReceivedAt, Click: record.ReceivedAt, SubscriptionChange: record.ChangedAt }[type];
  const recipient = type === "Bounce" || type === "SpamComplaint" ? record.Email : record.Recipient;
  const asText = (value: unknown) => (typeof value === "string" || typeof value === "number" ? String(value) : "");
  const identity = [type, asText(record.MessageID), asText(time), asText(record.ID), asText(recipient), type === "Click" ? asText(record.OriginalLink) : ""];
  return `pm_${createHash("sha256").update(JSON.stringify(identity)).digest("hex")}`;
}

/** A request ready to POST: the path names the provider's endpoint. */
export interface WebhookRequest extends SignedRequest {
  path: string;
}

/**
 * The request of one attempt. Resend and SendGrid sign every attempt afresh (a new timestamp, as Svix and
 * SendGrid retry); Mailgun's signature is made at the first attempt and resent unchanged on every retry
 * (its retries carry the original signature block, and the gateway binds the token to the event); SNS
 * resends the same message, re-signed here (a signature of the same MessageId is as valid as the first);
 * Postmark has nothing to sign.
 */
export function requestOf(delivery: PlannedDelivery, keys: { resend: string; others: ProviderKeys | undefined }): WebhookRequest {
  const payload = delivery.payload;
  if (payload.provider === "resend") {
    const headers = signedHeaders(keys.resend, payload.body, { id: delivery.events[0]!.svixId });
    return { path: "/webhooks/resend", headers: { "content-type": "application/json", ...headers }, body: payload.body };
  }
  const others = keys.others;
  if (!others) throw new Error(`no ${payload.provider} credentials for this workspace: start the stack with providers: "mixed"`);
  const path = `/webhooks/${payload.provider}`;
  switch (payload.provider) {
    case "sendgrid":
      return { path, ...sendgridRequest(others.sendgrid.privateKey, payload.events) };
    case "mailgun":
      payload.timestampSeconds ??= Math.floor(Date.now() / 1000);
      return { path, ...mailgunRequest(others.mailgun, payload.eventData, { token: payload.token, timestampSeconds: payload.timestampSeconds }) };
    case "postmark":
      return { path, ...postmarkRequest(others.postmark, payload.record) };
    case "ses":
      return { path, ...sesRequest(others.ses, payload.message, { messageId: payload.snsMessageId }) };
  }
}
