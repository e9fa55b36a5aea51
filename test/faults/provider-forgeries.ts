/**
 * Forged webhooks of SendGrid, Mailgun, Postmark and SES (scenario 9 on a mixed stack): each carries a
 * hard bounce of a fresh message to a fresh address — the event that would do most harm if accepted (a
 * suppressed subscriber) — and must be answered 401 with the named reason and have no effect: no stored
 * copy under its envelope id, no timeline entry, the address not suppressed. Signed with cli/provider-sign.ts
 * as the provider signs, then spoiled in one way each.
 */
import { generateKeyPairSync, randomBytes, randomUUID, type KeyObject } from "node:crypto";
import { mailgunEventData, postmarkRecord, sendgridEvent, sesMessage, type ProviderSample } from "../../cli/provider-samples.ts";
import { mailgunRequest, postmarkRequest, sendgridRequest, sesRequest, signSnsEnvelope, type SignedRequest } from "../../cli/provider-sign.ts";
import { waitFor } from "../harness.ts";
import type { HostileEvent, Ledger, Outcome } from "./ledger.ts";
import { newProviderKeys, type OtherProvider, type ProviderKeys } from "./provider-keys.ts";
import { postmarkEventId } from "./provider-requests.ts";

export interface Forgery {
  kind: string;
  /** "401 <error>": the status and the reason the gateway must give. */
  expected: string;
  /** Sends it once; resolves with "<status> <error>" (or "no-answer"). */
  send(baseUrl: string): Promise<string>;
}

export interface ForgeryContext {
  ledger: Ledger;
  workspaceId: string;
  keys: ProviderKeys;
  /** Another workspace's credentials (valid there, not here). */
  otherKeys: ProviderKeys;
}

// A signer of nobody (its own keys) and an RSA key that is not the SNS signer's, made once: key generation is slow.
let strangers: { keys: ProviderKeys; snsKey: KeyObject } | undefined;

/** Every forgery, each planned in the ledger as a hostile event under the envelope id it would get. */
export function providerForgeries(context: ForgeryContext): Forgery[] {
  const { keys, otherKeys } = context;
  strangers ??= { keys: newProviderKeys(keys.ses), snsKey: generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey };
  const stranger = strangers;
  const now = () => Math.floor(Date.now() / 1000);
  const forgeries: Forgery[] = [];
  const add = (kind: string, provider: OtherProvider, error: string, build: (sample: ProviderSample) => { svixId: string; request: SignedRequest } | Promise<{ svixId: string; request: SignedRequest }>) => {
    forgeries.push({ kind, expected: `401 ${error}`, send: (baseUrl) => sendForgery(context, kind, provider, baseUrl, build) });
  };

  add("sendgrid-bad-signature", "sendgrid", "bad_signature", (sample) => sendgrid(sample, (events) => sendgridRequest(stranger.keys.sendgrid.privateKey, events)));
  add("sendgrid-cross-workspace", "sendgrid", "bad_signature", (sample) => sendgrid(sample, (events) => sendgridRequest(otherKeys.sendgrid.privateKey, events)));
  add("sendgrid-stale-timestamp", "sendgrid", "expired_timestamp", (sample) => sendgrid(sample, (events) => sendgridRequest(keys.sendgrid.privateKey, events, now() - 400)));
  add("sendgrid-tampered-body", "sendgrid", "bad_signature", (sample) =>
    sendgrid(sample, (events) => {
      // Signed as a delivery, sent as a bounce of the same event id.
      const signed = sendgridRequest(keys.sendgrid.privateKey, [{ ...events[0], event: "delivered", type: undefined }]);
      return { ...signed, body: JSON.stringify(events) };
    }),
  );
  add("sendgrid-missing-signature", "sendgrid", "missing_headers", (sample) =>
    sendgrid(sample, (events) => ({ headers: { "content-type": "application/json" }, body: JSON.stringify(events) })),
  );

  add("mailgun-bad-signature", "mailgun", "bad_signature", (sample) => mailgun(sample, (data) => mailgunRequest(stranger.keys.mailgun, data)));
  add("mailgun-cross-workspace", "mailgun", "bad_signature", (sample) => mailgun(sample, (data) => mailgunRequest(otherKeys.mailgun, data)));
  // Mailgun's retries keep their first signature for hours (accepted up to 9 h); past that it is stale.
  add("mailgun-stale-timestamp", "mailgun", "expired_timestamp", (sample) => mailgun(sample, (data) => mailgunRequest(keys.mailgun, data, { timestampSeconds: now() - 10 * 3600 })));
  add("mailgun-future-timestamp", "mailgun", "expired_timestamp", (sample) => mailgun(sample, (data) => mailgunRequest(keys.mailgun, data, { timestampSeconds: now() + 400 })));
  add("mailgun-token-reused", "mailgun", "token_reused", async (sample) => {
    // A genuine signature block the gateway has seen (an acknowledged event of the load), pasted onto another event.
    const captured = await acknowledgedMailgunSignature(context.ledger);
    return mailgun(sample, (data) => mailgunRequest(keys.mailgun, data, captured));
  });

  add("postmark-wrong-basic-auth", "postmark", "bad_credentials", (sample) => postmark(sample, (record) => postmarkRequest(stranger.keys.postmark, record)));
  add("postmark-cross-workspace", "postmark", "bad_credentials", (sample) => postmark(sample, (record) => postmarkRequest(otherKeys.postmark, record)));
  add("postmark-no-auth", "postmark", "bad_credentials", (sample) => postmark(sample, (record) => ({ headers: { "content-type": "application/json" }, body: JSON.stringify(record) })));

  add("ses-topic-not-allowed", "ses", "topic_not_allowed", (sample) => ses(sample, (message, id) => sesRequest(stranger.keys.ses, message, { messageId: id })));
  add("ses-cross-workspace", "ses", "topic_not_allowed", (sample) => ses(sample, (message, id) => sesRequest(otherKeys.ses, message, { messageId: id })));
  add("ses-bad-signature", "ses", "bad_signature", (sample) =>
    ses(sample, (message, id) => sesRequest({ ...keys.ses, privateKey: stranger.snsKey }, message, { messageId: id })),
  );
  add("ses-tampered-message", "ses", "bad_signature", (sample) =>
    ses(sample, (message, id) => {
      const signed = sesRequest(keys.ses, { ...message, eventType: "Delivery" }, { messageId: id });
      return { ...signed, body: JSON.stringify({ ...(JSON.parse(signed.body) as object), Message: JSON.stringify(message) }) };
    }),
  );
  add("ses-foreign-certificate-url", "ses", "bad_certificate_url", (sample) =>
    ses(sample, (message, id) => {
      const envelope = { Type: "Notification", MessageId: id, TopicArn: keys.ses.topicArn, Message: JSON.stringify(message), Timestamp: new Date().toISOString(), SigningCertURL: "https://certs.attacker.example/SimpleNotificationService.pem" };
      return { headers: { "content-type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": "Notification" }, body: JSON.stringify(signSnsEnvelope(envelope, keys.ses.privateKey)) };
    }),
  );
  return forgeries;
}

type Built = { svixId: string; request: SignedRequest };

function sendgrid(sample: ProviderSample, sign: (events: Record<string, unknown>[]) => SignedRequest): Built {
  const event = sendgridEvent("hard_bounce", sample);
  return { svixId: `sendgrid:${event.sg_event_id as string}`, request: sign([event]) };
}

function mailgun(sample: ProviderSample, sign: (data: Record<string, unknown>) => SignedRequest): Built {
  const data = mailgunEventData("hard_bounce", sample);
  return { svixId: `mailgun:${data.id as string}`, request: sign(data) };
}

function postmark(sample: ProviderSample, sign: (record: Record<string, unknown>) => SignedRequest): Built {
  const record = postmarkRecord("hard_bounce", sample);
  return { svixId: `postmark:${postmarkEventId(record)}`, request: sign(record) };
}

function ses(sample: ProviderSample, sign: (message: Record<string, unknown>, snsMessageId: string) => SignedRequest): Built {
  const id = randomUUID();
  return { svixId: `ses:${id}`, request: sign(sesMessage("hard_bounce", sample), id) };
}

/** The signature block of a Mailgun request of the load the gateway acknowledged (waits for one). */
async function acknowledgedMailgunSignature(ledger: Ledger): Promise<{ token: string; timestampSeconds: number }> {
  return await waitFor(
    () => {
      for (const [svixId, delivery] of ledger.deliveryOf) {
        const payload = delivery.payload;
        if (payload.provider === "mailgun" && payload.timestampSeconds !== undefined && ledger.acknowledged(svixId)) {
          return { token: payload.token, timestampSeconds: payload.timestampSeconds };
        }
      }
      return undefined;
    },
    { timeoutMs: 60_000, intervalMs: 100, what: "an acknowledged Mailgun event of the load" },
  );
}

async function sendForgery(
  context: ForgeryContext,
  kind: string,
  provider: OtherProvider,
  baseUrl: string,
  build: (sample: ProviderSample) => Built | Promise<Built>,
): Promise<string> {
  const hex = randomBytes(12).toString("hex");
  const messageId = provider === "mailgun" ? `${hex}@mg.example.test` : hex;
  const victim = `victim-${kind}.${randomBytes(3).toString("hex")}@example.test`;
  const { svixId, request } = await build({ messageId, to: [victim], tags: { campaign_id: "hostile" } });
  const event: HostileEvent = { svixId, workspaceId: context.workspaceId, emailId: `${provider}:${messageId}`, kind, addresses: [victim] };
  context.ledger.planHostile(event);
  let outcome: Outcome = "no-answer";
  let error = "";
  try {
    const response = await fetch(`${baseUrl}/webhooks/${provider}?workspaceId=${encodeURIComponent(context.workspaceId)}`, {
      method: "POST",
      headers: request.headers,
      body: request.body,
      signal: AbortSignal.timeout(10_000),
    });
    outcome = response.status;
    error = String(((await response.json().catch(() => ({}))) as { error?: unknown }).error ?? "");
  } catch {
    // no answer
  }
  context.ledger.record(svixId, outcome);
  return outcome === "no-answer" ? outcome : `${outcome} ${error}`;
}
