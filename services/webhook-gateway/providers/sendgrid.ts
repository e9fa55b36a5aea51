/**
 * SendGrid's Event Webhook (issue 14). One POST carries a JSON array of events, signed with ECDSA P-256:
 * `X-Twilio-Email-Event-Webhook-Signature` is the base64 DER signature of SHA-256 over the
 * `X-Twilio-Email-Event-Webhook-Timestamp` value followed by the raw body ("Getting Started with the Event
 * Webhook Security Features"). The credential is the verification key SendGrid shows: base64 DER
 * SubjectPublicKeyInfo. Field meanings are from the "Event Webhook Reference"; the mapping onto event
 * kinds is issue 14's.
 */
import { createHash, createPublicKey, verify as verifySignature, type KeyObject } from "node:crypto";
import { secretFingerprint } from "../workspace/secret-box.ts";
import {
  BadProviderBodyError,
  type BounceDetail,
  type Contents,
  type EventMapping,
  type ProviderAdapter,
  type ProviderEvent,
  type RejectReason,
  type Verdict,
  type VerifyRequest,
} from "./provider-adapter.ts";
import {
  fromUnixSeconds,
  header,
  isObject,
  objectAt,
  optionalId,
  parseJsonBody,
  requiredId,
  tagsFrom,
  text,
  toleranceSeconds,
  type Json,
} from "./provider-fields.ts";

/**
 * SendGrid posts a batch every 30 s or when it reaches 768 KB, whichever comes first. Its smallest events
 * are about 200 bytes, so a full batch can hold ~4,000 of them: a lower cap would answer 400 to real
 * batches, which SendGrid then retries until it drops them. (The gateway's body limit must allow 768 KB
 * for this endpoint too — its Resend default is 256 KiB.)
 */
export const maxEventsPerBatch = 5_000;
const maxKeyTextLength = 1_000;
// A DER ECDSA P-256 signature is at most 72 bytes (96 base64 characters).
const maxSignatureLength = 200;

export const signatureHeader = "x-twilio-email-event-webhook-signature";
export const timestampHeader = "x-twilio-email-event-webhook-timestamp";

const pemArmour = /-----(BEGIN|END) PUBLIC KEY-----/g;
const normalisedKeyText = (text: string) => text.replace(pemArmour, "").replace(/\s+/g, "");

export function parseCredential(keyText: string): KeyObject {
  if (keyText.length > maxKeyTextLength) throw new Error(`must be at most ${maxKeyTextLength} characters`);
  const material = normalisedKeyText(keyText);
  if (!material) throw new Error("required: the Event Webhook verification key from SendGrid's Mail Settings (base64)");
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(material)) throw new Error("must be the verification key in base64, as SendGrid shows it");
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(material, "base64"), format: "der", type: "spki" });
  } catch {
    throw new Error("is not a public key (expected base64 DER SubjectPublicKeyInfo)");
  }
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
    throw new Error("must be an ECDSA P-256 public key, as SendGrid's verification key is");
  }
  return key;
}

/** The same key pasted with or without PEM armour or line breaks has one fingerprint. */
export const fingerprint = (keyText: string): string => secretFingerprint(normalisedKeyText(keyText));

const reject = (reason: RejectReason): Verdict => ({ ok: false, reason });

async function verify(request: VerifyRequest, keys: readonly KeyObject[]): Promise<Verdict> {
  const signature = header(request.headers, signatureHeader);
  const timestamp = header(request.headers, timestampHeader);
  if (!signature || !timestamp || !/^\d{1,12}$/.test(timestamp)) return reject("missing_signature");
  const skew = Math.floor(request.nowMs / 1000) - Number(timestamp);
  if (Math.abs(skew) > toleranceSeconds) return reject("expired_timestamp");
  if (signature.length > maxSignatureLength) return reject("bad_signature");
  const signed = Buffer.concat([Buffer.from(timestamp, "utf8"), request.body]);
  const der = Buffer.from(signature, "base64");
  for (const key of keys) {
    try {
      if (verifySignature("sha256", signed, { key, dsaEncoding: "der" }, der)) return { ok: true };
    } catch {
      // A signature that is not DER at all verifies under no key.
    }
  }
  return reject("bad_signature");
}

function contents(body: Buffer): Contents {
  const batch = parseJsonBody(body, "SendGrid");
  if (!Array.isArray(batch)) throw new BadProviderBodyError("SendGrid body is not a JSON array of events");
  if (batch.length > maxEventsPerBatch) throw new BadProviderBodyError(`SendGrid batch has more than ${maxEventsPerBatch} events`);
  return { kind: "events", events: batch.map((element, index) => sendgridEvent(element, index)) };
}

function sendgridEvent(element: unknown, index: number): ProviderEvent {
  const where = `SendGrid event ${index}`;
  if (!isObject(element)) throw new BadProviderBodyError(`${where} is not a JSON object`);
  const type = element.event;
  if (typeof type !== "string" || type === "" || type.length > 64) {
    throw new BadProviderBodyError(`${where} has no event type (a string of 1 to 64 characters)`);
  }
  const mapped = mappers[type.toLowerCase()]?.(element) ?? { kind: undefined };
  const email = text(element.email, 512);
  return {
    provider: "sendgrid",
    eventId: eventIdOf(element, where),
    kind: mapped.kind,
    providerType: type,
    messageId: optionalId(element.sg_message_id, `${where} sg_message_id`).split(".")[0]!,
    eventTime: fromUnixSeconds(element.timestamp),
    recipients: email ? [email] : [],
    from: "",
    subject: "",
    tags: tagsOf(element),
    ...(mapped.bounce ? { bounce: mapped.bounce } : {}),
    ...(mapped.click ? { click: mapped.click } : {}),
    ...(mapped.open ? { open: mapped.open } : {}),
    ...(mapped.reason ? { reason: mapped.reason } : {}),
    raw: Buffer.from(JSON.stringify(element), "utf8"),
  };
}

/**
 * `sg_event_id` is SendGrid's deduplication id "where present" (Troubleshooting, "Duplicate events"):
 * old and marketing-tool events may lack it. Such an event is kept under a hash of its own JSON, which a
 * retry of the same batch repeats, rather than failing the whole batch.
 */
function eventIdOf(element: Json, where: string): string {
  if (element.sg_event_id !== undefined) return requiredId(element.sg_event_id, `${where} sg_event_id`);
  return `sha256:${createHash("sha256").update(JSON.stringify(element)).digest("hex")}`;
}


// The drop reasons that mean "this address is on one of your suppression lists" (Event Webhook Reference,
// Dropped; the Drops glossary page): SendGrid skipped the message, it did not fail.
const suppressionDrops = new Set(["bounced address", "unsubscribed address", "spam reporting address", "invalid"]);

const engagement = (event: Json) => ({ ipAddress: text(event.ip, 64), userAgent: text(event.useragent, 1_000) });

const mappers: Record<string, (event: Json) => EventMapping> = {
  processed: () => ({ kind: "sent" }),
  delivered: () => ({ kind: "delivered" }),
  deferred: (event) => ({ kind: "delivery_delayed", reason: text(event.response) }),
  bounce: (event) => ({ kind: "bounced", bounce: bounceOf(event) }),
  dropped: (event) => {
    const reason = text(event.reason);
    return { kind: suppressionDrops.has(reason.trim().toLowerCase()) ? "suppressed" : "failed", reason };
  },
  spamreport: () => ({ kind: "complained" }),
  open: (event) => ({ kind: "opened", open: engagement(event) }),
  click: (event) => ({ kind: "clicked", click: { link: text(event.url), ...engagement(event) } }),
  unsubscribe: () => ({ kind: "unsubscribed" }),
  group_unsubscribe: (event) => ({ kind: "unsubscribed", reason: event.asm_group_id === undefined ? "" : `unsubscribe group ${text(event.asm_group_id, 32)}` }),
};

/** `type: bounce` is a hard bounce, `type: blocked` a soft one (Event Webhook Reference, "type"). */
function bounceOf(event: Json): BounceDetail {
  const providerType = text(event.type, 64) || "bounce";
  const hard = providerType.toLowerCase() !== "blocked";
  const reason = text(event.reason);
  return {
    severity: hard ? "hard" : "soft",
    type: hard ? "Permanent" : "Transient",
    subType: "General",
    providerType,
    diagnosticCode: reason,
    smtpStatus: text(event.status, 32),
    message: reason,
  };
}

// Fields SendGrid itself puts on events; every other top-level field is a custom argument the sender set
// (custom args and unique args are flattened into the event, per the Event Webhook Reference).
const reservedFields = new Set([
  "email", "timestamp", "smtp-id", "event", "category", "sg_event_id", "sg_message_id", "useragent", "ip", "url",
  "url_offset", "reason", "status", "response", "type", "tls", "attempt", "asm_group_id", "pool", "post_type",
  "newsletter", "unique_args", "custom_args", "bounce_classification", "cert_err", "send_at", "sg_user_id",
]);
const reservedPrefixes = ["sg_", "marketing_campaign_", "singlesend_", "mc_"];

function tagsOf(event: Json): Record<string, string> {
  const custom = Object.entries(event).filter(([name]) => !reservedFields.has(name) && !reservedPrefixes.some((prefix) => name.startsWith(prefix)));
  const tags = tagsFrom([...Object.entries(objectAt(event.unique_args)), ...Object.entries(objectAt(event.custom_args)), ...custom]);
  const categories = (Array.isArray(event.category) ? event.category : [event.category]).filter((value) => typeof value === "string");
  return categories.length ? tagsFrom([["category", categories.join(",")]], tags) : tags;
}

/** The SendGrid adapter: stateless, so one instance serves every workspace. */
export function createSendgridAdapter(): ProviderAdapter<KeyObject> {
  return { provider: "sendgrid", parseCredential, fingerprint, verify, contents };
}
