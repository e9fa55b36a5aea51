/**
 * Realistic webhook bodies of every event kind for each provider other than Resend (cli/resend-samples.ts
 * has Resend's), in the shapes of the providers' documentation (the fixtures in test/fixtures/providers
 * are those documents; services/webhook-gateway/providers/*.ts read them). Each call makes a fresh event
 * id, so a body is one new event; the same body sent again is a retry of it. Used by `ngsreach simulate
 * --provider`, the tests, the fault driver and the gateway benchmark.
 */
import { randomBytes, randomUUID } from "node:crypto";

/** The kinds every provider maps onto (services/webhook-gateway/providers/provider-adapter.ts EventKind). */
export const sampleKinds = [
  "sent",
  "delivered",
  "delivery_delayed",
  "opened",
  "clicked",
  "hard_bounce",
  "soft_bounce",
  "complained",
  "failed",
  "suppressed",
  "unsubscribed",
] as const;
export type SampleKind = (typeof sampleKinds)[number];

export interface ProviderSample {
  /** The provider's message id of the email (RecordSend's email_id for that provider). */
  messageId: string;
  /** The recipient(s); SES bounces and complaints name all of them. */
  to: string[];
  at?: Date;
  link?: string;
  /** Custom data the sender attached (SendGrid custom args, Mailgun user-variables, Postmark Metadata, SES tags). */
  tags?: Record<string, string>;
}

/** Which kinds a provider has at all (Postmark reports no sends, failures or drops). */
export const kindsOf: Record<"ses" | "sendgrid" | "postmark" | "mailgun", readonly SampleKind[]> = {
  ses: ["sent", "delivered", "delivery_delayed", "opened", "clicked", "hard_bounce", "soft_bounce", "complained", "failed", "unsubscribed"],
  sendgrid: sampleKinds,
  postmark: ["delivered", "opened", "clicked", "hard_bounce", "soft_bounce", "complained", "unsubscribed"],
  mailgun: sampleKinds.filter((kind) => kind !== "delivery_delayed"),
};

const unixSeconds = (at: Date) => at.getTime() / 1000;
const browser = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";

/** One SendGrid event object (a POST carries an array of them). */
export function sendgridEvent(kind: SampleKind, sample: ProviderSample): Record<string, unknown> {
  const at = sample.at ?? new Date();
  const base: Record<string, unknown> = {
    email: sample.to[0],
    timestamp: Math.floor(unixSeconds(at)),
    "smtp-id": `<${sample.messageId}@ismtpd0001p1las1.sendgrid.net>`,
    sg_event_id: randomBytes(16).toString("base64url"),
    sg_message_id: `${sample.messageId}.filter0001p1las1-16816-5A023E36-1.0`,
    category: "newsletter",
    ...sample.tags,
  };
  const engagement = { useragent: browser, ip: "203.0.113.7" };
  const fields: Record<SampleKind, Record<string, unknown>> = {
    sent: { event: "processed" },
    delivered: { event: "delivered", response: "250 OK" },
    delivery_delayed: { event: "deferred", response: "400 try again later", attempt: "5" },
    opened: { event: "open", ...engagement },
    clicked: { event: "click", url: sample.link ?? "https://example.com/offer", ...engagement },
    hard_bounce: { event: "bounce", type: "bounce", reason: "550 5.1.1 The email account that you tried to reach does not exist", status: "5.1.1" },
    soft_bounce: { event: "bounce", type: "blocked", reason: "421 4.7.0 Try again later", status: "4.7.0" },
    complained: { event: "spamreport" },
    failed: { event: "dropped", reason: "Invalid SMTPAPI header" },
    suppressed: { event: "dropped", reason: "Bounced Address" },
    unsubscribed: { event: "unsubscribe" },
  };
  return { ...base, ...fields[kind] };
}

/** One Mailgun `event-data` object (the webhook body adds the signature block). */
export function mailgunEventData(kind: SampleKind, sample: ProviderSample): Record<string, unknown> {
  const at = sample.at ?? new Date();
  const base: Record<string, unknown> = {
    id: randomBytes(16).toString("base64url"),
    timestamp: unixSeconds(at),
    "log-level": "info",
    recipient: sample.to[0],
    "recipient-domain": sample.to[0]?.split("@")[1] ?? "",
    message: { headers: { "message-id": sample.messageId, to: sample.to.join(", "), from: "news@mg.example.com", subject: "Our news" } },
    tags: [],
    "user-variables": sample.tags ?? {},
  };
  const engagement = { ip: "203.0.113.7", "client-info": { "user-agent": browser, "client-type": "browser" } };
  const fields: Record<SampleKind, Record<string, unknown>> = {
    sent: { event: "accepted", method: "http" },
    delivered: { event: "delivered", "delivery-status": { code: 250, message: "OK" } },
    delivery_delayed: { event: "failed", severity: "temporary", reason: "generic", "delivery-status": { code: 452, message: "mailbox full", "enhanced-code": "4.2.2" } },
    opened: { event: "opened", ...engagement },
    clicked: { event: "clicked", url: sample.link ?? "https://example.com/offer", ...engagement },
    hard_bounce: { event: "failed", severity: "permanent", reason: "bounce", "delivery-status": { code: 550, message: "5.1.1 No such user", "enhanced-code": "5.1.1" } },
    soft_bounce: { event: "failed", severity: "temporary", reason: "generic", "delivery-status": { code: 452, message: "4.2.2 Mailbox full", "enhanced-code": "4.2.2" } },
    complained: { event: "complained" },
    failed: { event: "rejected", reject: { reason: "Sandbox subdomains are for test purposes only", description: "" } },
    suppressed: { event: "failed", severity: "permanent", reason: "suppress-bounce", "delivery-status": { description: "Not delivering to previously bounced address" } },
    unsubscribed: { event: "unsubscribed" },
  };
  return { ...base, ...fields[kind] };
}

/** One Postmark webhook record (one per POST). */
export function postmarkRecord(kind: SampleKind, sample: ProviderSample): Record<string, unknown> {
  const at = (sample.at ?? new Date()).toISOString();
  const recipient = sample.to[0];
  const base = { MessageID: sample.messageId, MessageStream: "outbound", Metadata: sample.tags ?? {}, Tag: "newsletter" };
  const bounce = (type: string, typeCode: number, details: string) => ({
    ...base,
    RecordType: "Bounce",
    ID: Number.parseInt(randomBytes(6).toString("hex"), 16),
    Type: type,
    TypeCode: typeCode,
    Name: type,
    Email: recipient,
    BouncedAt: at,
    Details: details,
    Description: `${type} bounce`,
    Inactive: type === "HardBounce",
    CanActivate: true,
  });
  const engagement = { UserAgent: browser, Geo: { IP: "203.0.113.7" }, ReceivedAt: at, Recipient: recipient };
  switch (kind) {
    case "delivered":
      return { ...base, RecordType: "Delivery", Recipient: recipient, DeliveredAt: at, Details: "smtp;250 2.0.0 OK" };
    case "opened":
      return { ...base, RecordType: "Open", FirstOpen: true, ...engagement };
    case "clicked":
      return { ...base, RecordType: "Click", ClickLocation: "HTML", OriginalLink: sample.link ?? "https://example.com/offer", ...engagement };
    case "hard_bounce":
      return bounce("HardBounce", 1, "smtp;550 5.1.1 The email account that you tried to reach does not exist");
    case "soft_bounce":
      return bounce("SoftBounce", 4096, "smtp;452 4.2.2 Mailbox full");
    case "complained":
      return { ...base, RecordType: "SpamComplaint", ID: Number.parseInt(randomBytes(6).toString("hex"), 16), Type: "SpamComplaint", TypeCode: 512, Email: recipient, BouncedAt: at };
    case "unsubscribed":
      return { ...base, RecordType: "SubscriptionChange", Recipient: recipient, ChangedAt: at, SuppressSending: true, SuppressionReason: "ManualSuppression", Origin: "Recipient" };
    default:
      throw new Error(`Postmark reports no ${kind} events`);
  }
}

/** One SES event-publishing message (the SNS Notification's `Message`). */
export function sesMessage(kind: SampleKind, sample: ProviderSample): Record<string, unknown> {
  const at = (sample.at ?? new Date()).toISOString();
  const mail = {
    timestamp: at,
    source: "news@example.com",
    sourceArn: "arn:aws:ses:us-east-1:123456789012:identity/example.com",
    sendingAccountId: "123456789012",
    messageId: sample.messageId,
    destination: sample.to,
    headersTruncated: false,
    commonHeaders: { from: ["news@example.com"], to: sample.to, messageId: sample.messageId, subject: "Our news" },
    tags: Object.fromEntries(Object.entries(sample.tags ?? {}).map(([name, value]) => [name, [value]])),
  };
  const recipients = sample.to.map((emailAddress) => ({ emailAddress }));
  const engagement = { ipAddress: "203.0.113.7", userAgent: browser, timestamp: at };
  switch (kind) {
    case "sent":
      return { eventType: "Send", mail, send: {} };
    case "delivered":
      return { eventType: "Delivery", mail, delivery: { timestamp: at, processingTimeMillis: 546, recipients: sample.to, smtpResponse: "250 2.6.0 Message received" } };
    case "delivery_delayed":
      return { eventType: "DeliveryDelay", mail, deliveryDelay: { timestamp: at, delayType: "MailboxFull", delayedRecipients: recipients.map((r) => ({ ...r, status: "4.2.2", diagnosticCode: "smtp; 452 4.2.2 Mailbox full" })) } };
    case "opened":
      return { eventType: "Open", mail, open: engagement };
    case "clicked":
      return { eventType: "Click", mail, click: { ...engagement, link: sample.link ?? "https://example.com/offer", linkTags: {} } };
    case "hard_bounce":
    case "soft_bounce": {
      const hard = kind === "hard_bounce";
      const status = hard ? "5.1.1" : "4.2.2";
      return {
        eventType: "Bounce",
        mail,
        bounce: {
          bounceType: hard ? "Permanent" : "Transient",
          bounceSubType: hard ? "General" : "MailboxFull",
          bouncedRecipients: recipients.map((r) => ({ ...r, action: "failed", status, diagnosticCode: `smtp; ${hard ? "550 5.1.1 user unknown" : "452 4.2.2 Mailbox full"}` })),
          timestamp: at,
          feedbackId: randomUUID(),
          reportingMTA: "dsn; a8-70.smtp-out.amazonses.com",
        },
      };
    }
    case "complained":
      return { eventType: "Complaint", mail, complaint: { complainedRecipients: recipients, timestamp: at, feedbackId: randomUUID(), complaintFeedbackType: "abuse", userAgent: "Mail.ru feedback loop" } };
    case "failed":
      return { eventType: "Reject", mail, reject: { reason: "Bad content" } };
    case "unsubscribed":
      return {
        eventType: "Subscription",
        mail,
        subscription: {
          contactList: "news",
          timestamp: at,
          source: "UnsubscribeHeader",
          newTopicPreferences: { unsubscribeAll: true, topicSubscriptionStatus: [{ topicName: "news", subscriptionStatus: "OptOut" }] },
          oldTopicPreferences: { unsubscribeAll: false, topicSubscriptionStatus: [{ topicName: "news", subscriptionStatus: "OptIn" }] },
        },
      };
    case "suppressed":
      throw new Error("SES reports suppressed addresses as a Bounce with bounceSubType OnAccountSuppressionList");
  }
}
