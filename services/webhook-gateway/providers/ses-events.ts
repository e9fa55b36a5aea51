/**
 * One SES notification (the `Message` of a verified SNS notification) as a ProviderEvent. Both shapes
 * SES publishes are read: identity notifications (`notificationType`: Bounce, Complaint, Delivery) and
 * configuration-set event publishing (`eventType`: also Send, Reject, Open, Click, Rendering Failure,
 * DeliveryDelay, Subscription). Field meanings are from AWS's "Amazon SNS notification contents for
 * Amazon SES" and "Contents of event data that Amazon SES publishes to Amazon SNS".
 */
import { BadProviderBodyError, type BounceDetail, type EventKind, type ProviderEvent } from "./provider-adapter.ts";

// SNS's own message size limit; SES sends far less (headers are truncated at 10 KB).
export const maxMessageBytes = 256 * 1024;
// SES sends to at most 50 recipients and allows 50 tags of 256 characters; these are looser bounds on work.
export const maxRecipients = 1_000;
export const maxTags = 50;
const maxTagLength = 256;
const maxIdLength = 256;
// SES's longest is "Rendering Failure"; the type ends up in a subject name and in every timeline entry.
const maxTypeLength = 64;
const maxAddressLength = 512;

type Json = Record<string, unknown>;

/** Builds the event from the SNS MessageId (identical on every SNS retry) and the published message. */
export function sesEvent(eventId: string, message: string): ProviderEvent {
  if (Buffer.byteLength(message, "utf8") > maxMessageBytes) throw new BadProviderBodyError(`SES notification is larger than ${maxMessageBytes} bytes`);
  let root: unknown;
  try {
    root = JSON.parse(message);
  } catch {
    throw new BadProviderBodyError("SNS Message is not JSON, so not an SES notification");
  }
  if (!isObject(root)) throw new BadProviderBodyError("SNS Message is not a JSON object, so not an SES notification");
  const type = root.eventType ?? root.notificationType;
  if (typeof type !== "string" || !type) throw new BadProviderBodyError("SES notification has neither eventType nor notificationType");
  if (type.length > maxTypeLength) throw new BadProviderBodyError(`SES notification type is longer than ${maxTypeLength} characters`);
  // Own properties only: a type named "constructor" or "toString" must not find Object's.
  const mapped = Object.hasOwn(mappers, type) ? mappers[type] : undefined;
  const mail = mapped ? object(root.mail, "mail") : optionalObject(root.mail, "mail");
  const messageId = mail.messageId ?? "";
  if (typeof messageId !== "string" || (mapped && !messageId) || messageId.length > maxIdLength) {
    throw new BadProviderBodyError(`SES ${mapped ? `${type} notification` : "notification of an unknown type"} needs mail.messageId, a string of 1 to ${maxIdLength} characters`);
  }
  const commonHeaders = optionalObject(mail.commonHeaders, "mail.commonHeaders");
  const destination = addresses(mail.destination, "mail.destination");
  const fields: Mapped = mapped ? mapped(root) : { kind: undefined };
  return {
    provider: "ses",
    eventId,
    kind: fields.kind,
    providerType: type,
    messageId,
    eventTime: time(fields.time) ?? time(mail.timestamp),
    recipients: fields.recipients ?? destination,
    ...(fields.recipients ? { recipientsNamed: true } : {}),
    from: firstString(commonHeaders.from) || text(mail.source),
    subject: text(commonHeaders.subject),
    tags: tags(mail.tags),
    ...(fields.bounce ? { bounce: fields.bounce } : {}),
    ...(fields.click ? { click: fields.click } : {}),
    ...(fields.open ? { open: fields.open } : {}),
    ...(fields.reason ? { reason: fields.reason } : {}),
  };
}

interface Mapped {
  kind: EventKind | undefined;
  /** Who the event is about when SES says so; otherwise the mail's destination. */
  recipients?: string[];
  time?: unknown;
  bounce?: BounceDetail;
  click?: ProviderEvent["click"];
  open?: ProviderEvent["open"];
  reason?: string;
}

const bounceTypes = new Set(["Permanent", "Transient", "Undetermined"]);

const mappers: Record<string, (root: Json) => Mapped> = {
  Send: () => ({ kind: "sent" }),
  Delivery: (root) => {
    const delivery = optionalObject(root.delivery, "delivery");
    // `delivery.recipients` names those this delivery is about, which may be fewer than the destination.
    const delivered = addresses(delivery.recipients, "delivery.recipients");
    return { kind: "delivered", recipients: delivered.length ? delivered : undefined, time: delivery.timestamp };
  },
  DeliveryDelay: (root) => {
    const delay = optionalObject(root.deliveryDelay, "deliveryDelay");
    const delayed = recipientObjects(delay.delayedRecipients, "deliveryDelay.delayedRecipients", false);
    return { kind: "delivery_delayed", recipients: delayed.length ? delayed.map((r) => r.address) : undefined, time: delay.timestamp, reason: text(delay.delayType) };
  },
  Bounce: (root) => {
    const bounce = object(root.bounce, "bounce");
    const recipients = recipientObjects(bounce.bouncedRecipients, "bounce.bouncedRecipients", true);
    const providerType = text(bounce.bounceType);
    // SES names the diagnostic per recipient; the event keeps the first given, as the timeline shows one.
    const detailed = recipients.find((r) => r.diagnosticCode || r.status);
    return {
      kind: "bounced",
      recipients: recipients.map((r) => r.address),
      time: bounce.timestamp,
      bounce: {
        severity: providerType === "Permanent" ? "hard" : "soft",
        type: bounceTypes.has(providerType) ? providerType : "Undetermined",
        subType: text(bounce.bounceSubType),
        providerType,
        diagnosticCode: detailed?.diagnosticCode ?? "",
        smtpStatus: detailed?.status ?? "",
        message: "",
      },
    };
  },
  Complaint: (root) => {
    const complaint = object(root.complaint, "complaint");
    const recipients = recipientObjects(complaint.complainedRecipients, "complaint.complainedRecipients", true);
    const feedbackType = text(complaint.complaintFeedbackType);
    const reason = [feedbackType, text(complaint.complaintSubType)].filter(Boolean).join(", ");
    // "not-spam": the reporter says the message is NOT spam (IANA MARF) — a correction, never a complaint.
    return { kind: feedbackType === "not-spam" ? undefined : "complained", recipients: recipients.map((r) => r.address), time: complaint.timestamp, reason };
  },
  Reject: (root) => ({ kind: "failed", reason: text(optionalObject(root.reject, "reject").reason) }),
  "Rendering Failure": (root) => ({ kind: "failed", reason: text(optionalObject(root.failure, "failure").errorMessage) }),
  Open: (root) => {
    const open = optionalObject(root.open, "open");
    return { kind: "opened", time: open.timestamp, open: { ipAddress: text(open.ipAddress), userAgent: text(open.userAgent) } };
  },
  Click: (root) => {
    const click = optionalObject(root.click, "click");
    return {
      kind: "clicked",
      time: click.timestamp,
      click: { link: text(click.link), ipAddress: text(click.ipAddress), userAgent: text(click.userAgent) },
    };
  },
  Subscription: (root) => {
    const subscription = optionalObject(root.subscription, "subscription");
    const after = optionalObject(subscription.newTopicPreferences, "subscription.newTopicPreferences");
    const topics = Array.isArray(after.topicSubscriptionStatus) ? after.topicSubscriptionStatus : [];
    // A change that leaves every topic opted in is a (re)subscription; anything else stops mail to someone.
    const optsInOnly = after.unsubscribeAll === false && topics.every((t) => isObject(t) && t.subscriptionStatus === "OptIn");
    return { kind: optsInOnly ? undefined : "unsubscribed", time: subscription.timestamp, reason: text(subscription.source) };
  },
};

interface RecipientObject {
  address: string;
  status: string;
  diagnosticCode: string;
}

/** `[{emailAddress, status?, diagnosticCode?}]`, each address once, in SES's order. */
function recipientObjects(value: unknown, field: string, required: boolean): RecipientObject[] {
  if (value === undefined && !required) return [];
  if (!Array.isArray(value) || (required && value.length === 0)) throw new BadProviderBodyError(`SES notification needs ${field}, a non-empty list`);
  if (value.length > maxRecipients) throw new BadProviderBodyError(`${field} lists more than ${maxRecipients} recipients`);
  const seen = new Map<string, RecipientObject>();
  for (const item of value) {
    if (!isObject(item)) throw new BadProviderBodyError(`${field} holds an entry that is not an object`);
    const address = checkedAddress(item.emailAddress, `${field}[].emailAddress`);
    if (!seen.has(address)) seen.set(address, { address, status: text(item.status), diagnosticCode: text(item.diagnosticCode) });
  }
  return [...seen.values()];
}

/** A list of address strings (absent: empty), each once. */
function addresses(value: unknown, field: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new BadProviderBodyError(`${field} is not a list`);
  if (value.length > maxRecipients) throw new BadProviderBodyError(`${field} lists more than ${maxRecipients} recipients`);
  return [...new Set(value.map((item) => checkedAddress(item, `${field}[]`)))];
}

// The message names the field only: an address never goes into an error (errors are logged).
function checkedAddress(value: unknown, field: string): string {
  if (typeof value !== "string" || !value || value.length > maxAddressLength) {
    throw new BadProviderBodyError(`${field} is not an address of 1 to ${maxAddressLength} characters`);
  }
  return value;
}

/** `mail.tags` is `{name: [value, ...]}`; SES's own `ses:*` tags (source IP, caller identity) are not the sender's. */
function tags(value: unknown): Record<string, string> {
  const result: Record<string, string> = {};
  let count = 0;
  for (const [name, values] of Object.entries(optionalObject(value, "mail.tags"))) {
    if (name.startsWith("ses:")) continue;
    const first: unknown = Array.isArray(values) ? values[0] : values;
    if (typeof first !== "string") continue;
    if (++count > maxTags) throw new BadProviderBodyError(`mail.tags holds more than ${maxTags} tags`);
    if (name.length > maxTagLength || first.length > maxTagLength) throw new BadProviderBodyError(`a tag in mail.tags is longer than ${maxTagLength} characters`);
    // defineProperty, not assignment: a tag named "__proto__" (a valid SES tag name) stays a tag.
    Object.defineProperty(result, name, { value: first, enumerable: true, writable: true, configurable: true });
  }
  return result;
}

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function object(value: unknown, field: string): Json {
  if (!isObject(value)) throw new BadProviderBodyError(`SES notification needs a ${field} object`);
  return value;
}

function optionalObject(value: unknown, field: string): Json {
  return value === undefined || value === null ? {} : object(value, field);
}

function text(value: unknown): string {
  return typeof value === "string" ? value : "";
}

function firstString(value: unknown): string {
  return Array.isArray(value) ? text(value[0]) : text(value);
}

/** SES writes ISO 8601; a time it did not give or that does not parse leaves the receive time to the gateway. */
function time(value: unknown): Date | undefined {
  if (typeof value !== "string") return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : new Date(ms);
}
