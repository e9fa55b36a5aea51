/**
 * Envelopes of email events of any sending provider, exactly as the gateway stores them, and their
 * publishing into RESEND_EVENTS (not used in production code), so a consumer's tests can run one rule or
 * one history once per provider with no gateway: Resend's through its webhook body and parser, every other
 * provider's through the envelope builder the gateway's adapters feed (event and email ids namespaced
 * "<provider>:<id>").
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import { randomBytes } from "node:crypto";
import type { ResendEvent } from "../../gen/ngsreach/events/v1/resend_event_pb.ts";
import { sampleEmailEvent, type EmailEventType, type SampleOptions } from "../../cli/resend-samples.ts";
import type { Provider } from "../../services/shared/providers.ts";
import { encodeResendEvent, eventMessageId, eventSubject, parseResendEvent } from "../../services/shared/resend-events.ts";
import type { EventKind, ProviderEvent } from "../../services/webhook-gateway/providers/provider-adapter.ts";
import { providerEnvelope } from "../../services/webhook-gateway/providers/provider-envelope.ts";

/** Resend's email event types, plus the one only other providers send. */
export type ProviderEventType = EmailEventType | "email.unsubscribed";

export interface EnvelopeOptions extends SampleOptions {
  /** The provider's own type; defaults to the provider's name for the kind (ownTypes). Ignored for Resend. */
  providerType?: string;
  /** The bounce's own classification and SMTP status (providers other than Resend). */
  bounceProviderType?: string;
  smtpStatus?: string;
  /** The provider names exactly whom the event is about (SES bounces and complaints). Not Resend's. */
  recipientsNamed?: boolean;
  receivedAtMs?: number;
}

const kindOf: Record<ProviderEventType, EventKind> = {
  "email.sent": "sent",
  "email.delivered": "delivered",
  "email.delivery_delayed": "delivery_delayed",
  "email.opened": "opened",
  "email.clicked": "clicked",
  "email.bounced": "bounced",
  "email.complained": "complained",
  "email.failed": "failed",
  "email.suppressed": "suppressed",
  "email.unsubscribed": "unsubscribed",
};

/** Whether `type` is an email event type some provider sends (a test's typo is then caught, not published). */
export const isProviderEventType = (type: string): type is ProviderEventType => Object.hasOwn(kindOf, type);

/** The providers' own names of each kind, as their adapters read them (sendgrid.ts, ses.ts). */
const sendGridTypes: Record<EventKind, string> = {
  sent: "processed",
  delivery_delayed: "deferred",
  delivered: "delivered",
  opened: "open",
  clicked: "click",
  bounced: "bounce",
  complained: "spamreport",
  failed: "dropped",
  suppressed: "dropped",
  unsubscribed: "unsubscribe",
};
const sesTypes: Record<EventKind, string> = {
  sent: "Send",
  delivery_delayed: "DeliveryDelay",
  delivered: "Delivery",
  opened: "Open",
  clicked: "Click",
  bounced: "Bounce",
  complained: "Complaint",
  failed: "Reject",
  suppressed: "Bounce",
  unsubscribed: "Subscription",
};
// Postmark and Mailgun lack a name for some kinds; any plausible string does, so they borrow SendGrid's
// (a test about their own names passes `providerType`).
const ownTypes: Partial<Record<Provider, Record<EventKind, string>>> = { sendgrid: sendGridTypes, ses: sesTypes };

/** The provider type a provider's envelope carries for `type` (empty for Resend, which has none). */
export function providerTypeOf(provider: Provider, type: ProviderEventType, options: EnvelopeOptions = {}): string {
  return provider === "resend" ? "" : (options.providerType ?? (ownTypes[provider] ?? sendGridTypes)[kindOf[type]]);
}

/** A provider's own id of an id namespaced "<provider>:<id>" (as adapters give it); Resend's ids have no namespace. */
export function ownId(provider: Provider, id: string): string {
  return provider !== "resend" && id.startsWith(`${provider}:`) ? id.slice(provider.length + 1) : id;
}

/** The adapter's event (ids un-namespaced, as adapters give them). */
function providerEvent(provider: Provider, type: ProviderEventType, ids: { eventId: string; messageId: string }, options: EnvelopeOptions): ProviderEvent {
  const kind = kindOf[type];
  const { bounce, click } = options;
  return {
    provider,
    eventId: ids.eventId,
    kind,
    providerType: providerTypeOf(provider, type, options),
    messageId: ids.messageId,
    // A click's time is the click's: the envelope's click timestamp is taken from the event time.
    eventTime: (kind === "clicked" ? click?.timestamp : undefined) ?? options.createdAt ?? new Date(),
    recipients: options.to ?? ["delivered@example.com"],
    ...(options.recipientsNamed ? { recipientsNamed: true } : {}),
    from: options.from ?? "news@acme.example",
    subject: options.subject ?? "Hello",
    tags: options.tags ?? {},
    ...(kind === "bounced"
      ? {
          bounce: {
            severity: (bounce?.type ?? "Permanent") === "Permanent" ? "hard" : "soft",
            type: bounce?.type ?? "Permanent",
            subType: bounce?.subType ?? "General",
            providerType: options.bounceProviderType ?? "",
            diagnosticCode: bounce?.diagnosticCode ?? "",
            smtpStatus: options.smtpStatus ?? "",
            message: bounce?.message ?? "",
          },
        }
      : {}),
    ...(kind === "clicked" ? { click: { link: click?.link ?? "https://example.com", ipAddress: click?.ipAddress ?? "", userAgent: click?.userAgent ?? "" } } : {}),
    ...(kind === "failed" ? { reason: options.failedReason ?? "reached_daily_quota" } : {}),
    ...(kind === "suppressed" ? { reason: options.suppressed?.message ?? "Bounced Address" } : {}),
  };
}

/**
 * The envelope of one email event of `provider`. `eventId`: Resend's svix id, or the provider's own event id
 * (namespaced here); `messageId`: Resend's email id, or the provider's message id (namespaced here).
 */
export function emailEnvelope(
  provider: Provider,
  workspaceId: string,
  type: ProviderEventType,
  ids: { eventId: string; messageId: string },
  options: EnvelopeOptions = {},
): ResendEvent {
  const receivedAtMs = options.receivedAtMs ?? Date.now();
  if (provider === "resend") {
    const body = sampleEmailEvent(type, { ...options, emailId: ids.messageId });
    return parseResendEvent({ workspaceId, svixId: ids.eventId, receivedAtMs, rawBody: new TextEncoder().encode(JSON.stringify(body)) });
  }
  const event = providerEvent(provider, type, ids, options);
  return providerEnvelope({ workspaceId, event, receivedAtMs, body: Buffer.from(JSON.stringify({ event: event.providerType, id: ids.eventId })) });
}

/**
 * Publishes an envelope as the gateway does. `useMsgId: false` leaves out the message id, as a copy
 * arriving after the duplicate window would be: only the consumer's own dedupe can then catch it.
 */
export async function publishEnvelope(js: JetStreamClient, envelope: ResendEvent, { useMsgId }: { useMsgId: boolean }): Promise<void> {
  await js.publish(eventSubject(envelope.workspaceId, envelope.type), encodeResendEvent(envelope), {
    msgID: useMsgId ? eventMessageId(envelope.workspaceId, envelope.svixId) : undefined,
  });
}

export interface EmailEventOptions extends EnvelopeOptions {
  /** The provider's own message id; the envelope's email_id is `emailIdOf(provider, messageId)`. */
  messageId: string;
  to: string[];
}

/** A retry of an event already published: same event id; `useMsgId: false` is one past the duplicate window. */
export interface Retry {
  eventId: string;
  useMsgId?: boolean;
}

export interface PublishedEmailEvent {
  /** The event id as published (the envelope's svix_id): pass it back as `Retry.eventId`. */
  svixId: string;
  /** The envelope's email_id. */
  emailId: string;
}

/** Publishes one email event of `provider` for a workspace, under a new event id; pass `retry` to publish the same event again. */
export async function publishEmailEvent(
  js: JetStreamClient,
  workspaceId: string,
  provider: Provider,
  type: ProviderEventType,
  options: EmailEventOptions,
  retry?: Retry,
): Promise<PublishedEmailEvent> {
  const eventId = retry ? ownId(provider, retry.eventId) : `msg_${randomBytes(10).toString("hex")}`;
  const envelope = emailEnvelope(provider, workspaceId, type, { eventId, messageId: options.messageId }, options);
  await publishEnvelope(js, envelope, { useMsgId: retry?.useMsgId !== false });
  return { svixId: envelope.svixId, emailId: envelope.email?.emailId ?? "" };
}
