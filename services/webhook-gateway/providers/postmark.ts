/**
 * Postmark's webhooks (issue 14). Postmark does not sign: a webhook is protected by the HTTP Basic
 * credentials set on it (`HttpAuth`), which the workspace stores as `username:password` and which are
 * compared in constant time. There is no timestamp to bound, but there is nothing to replay either: a
 * replayed body yields the same event id and is a duplicate.
 *
 * One POST is one record, told apart by `RecordType` (Delivery, Bounce, SpamComplaint, Open, Click,
 * SubscriptionChange: Postmark's "Webhooks" pages). Postmark gives no event id, so `eventId` is
 * `pm_` + hex SHA-256 of the JSON array [RecordType, MessageID, event time, bounce ID, recipient, link]
 * with each taken verbatim from the body ("" when absent): the event time is DeliveredAt (Delivery),
 * BouncedAt (Bounce, SpamComplaint), ReceivedAt (Open, Click) or ChangedAt (SubscriptionChange); the
 * bounce ID is `ID` (Bounce, SpamComplaint); the recipient is `Email` (Bounce, SpamComplaint) or
 * `Recipient` (the others); the link is `OriginalLink` (Click). The recipient is in it because Postmark
 * posts one Delivery per recipient and two recipients can share a delivery time; Postmark's retries
 * repeat the body, so the id is the same on every retry.
 */
import { createHash } from "node:crypto";
import { secretFingerprint } from "../workspace/secret-box.ts";
import {
  BadProviderBodyError,
  type BounceDetail,
  type Contents,
  type EventKind,
  type ProviderAdapter,
  type ProviderEvent,
  type RejectReason,
  type Verdict,
  type VerifyRequest,
} from "./provider-adapter.ts";
import { fromIsoTime, header, isObject, objectAt, optionalId, sameSecret, smtpStatusIn, tagsFrom, text, type Json } from "./provider-fields.ts";

export interface PostmarkCredential {
  /** `username:password` as the Authorization header carries it, base64-decoded. */
  userPass: Buffer;
}

const maxPartLength = 256;
const minPasswordLength = 16;
const maxAuthorizationLength = 2_048;

export function parseCredential(credentialText: string): PostmarkCredential {
  const separator = credentialText.indexOf(":");
  if (separator < 0) throw new Error("must be username:password, the HTTP Basic credentials set on the Postmark webhook");
  const username = credentialText.slice(0, separator);
  const password = credentialText.slice(separator + 1);
  if (!username) throw new Error("the username (before the first colon) must not be empty");
  if (username.length > maxPartLength || password.length > maxPartLength) {
    throw new Error(`username and password must be at most ${maxPartLength} characters each`);
  }
  if (password.length < minPasswordLength) throw new Error(`the password must be at least ${minPasswordLength} characters`);
  if (/[\x00-\x1f\x7f]/.test(credentialText)) throw new Error("must not contain control characters");
  return Object.freeze({ userPass: Buffer.from(credentialText, "utf8") });
}

export const fingerprint = (credentialText: string): string => secretFingerprint(credentialText);

const reject = (reason: RejectReason): Verdict => ({ ok: false, reason });

async function verify(request: VerifyRequest, credentials: readonly PostmarkCredential[]): Promise<Verdict> {
  const authorization = header(request.headers, "authorization");
  if (!authorization || authorization.length > maxAuthorizationLength) return reject("bad_credentials");
  const match = /^basic +([A-Za-z0-9+/]+={0,2})\s*$/i.exec(authorization);
  if (!match) return reject("bad_credentials");
  const presented = Buffer.from(match[1]!, "base64");
  // Every credential is compared, so the time does not say which one (or whether any) matched.
  let matched = false;
  for (const credential of credentials) matched = sameSecret(presented, credential.userPass) || matched;
  return matched ? { ok: true } : reject("bad_credentials");
}

/**
 * Postmark's bounce IDs are 64-bit (its documented example is 4323372036854775807), past what a JSON
 * number holds exactly: the reviver keeps their digits as written (JSON.parse source text access, Node
 * 22+ and Deno 2), so two bounces never share an event id through rounding.
 */
const keepIdDigits = (key: string, value: unknown, context?: { source?: string }) =>
  key === "ID" && typeof value === "number" && context?.source ? context.source : value;

function contents(body: Buffer): Contents {
  let record: unknown;
  try {
    record = JSON.parse(body.toString("utf8"), keepIdDigits);
  } catch {
    throw new BadProviderBodyError("Postmark body is not JSON");
  }
  if (!isObject(record)) throw new BadProviderBodyError("Postmark body is not a JSON object");
  const type = record.RecordType;
  if (typeof type !== "string" || type === "" || type.length > 64) {
    throw new BadProviderBodyError("Postmark body has no RecordType (a string of 1 to 64 characters)");
  }
  return { kind: "events", events: [postmarkEvent(type, record)] };
}

interface Mapped {
  kind: EventKind | undefined;
  time: unknown;
  recipient: unknown;
  bounce?: BounceDetail;
  click?: ProviderEvent["click"];
  open?: ProviderEvent["open"];
  reason?: string;
}

function postmarkEvent(type: string, record: Json): ProviderEvent {
  const mapped = (mappers[type] ?? unknownRecord)(record);
  const messageId = optionalId(record.MessageID, "Postmark MessageID");
  const recipient = text(mapped.recipient, 512);
  const identity = [type, messageId, text(mapped.time, 64), text(record.ID, 64), recipient, type === "Click" ? text(record.OriginalLink) : ""];
  return {
    provider: "postmark",
    eventId: `pm_${createHash("sha256").update(JSON.stringify(identity)).digest("hex")}`,
    kind: mapped.kind,
    providerType: type,
    messageId,
    eventTime: fromIsoTime(mapped.time),
    recipients: recipient ? [recipient] : [],
    from: text(record.From, 512),
    subject: text(record.Subject),
    tags: tagsOf(record),
    ...(mapped.bounce ? { bounce: mapped.bounce } : {}),
    ...(mapped.click ? { click: mapped.click } : {}),
    ...(mapped.open ? { open: mapped.open } : {}),
    ...(mapped.reason ? { reason: mapped.reason } : {}),
  };
}

const engagement = (record: Json) => ({ ipAddress: text(objectAt(record.Geo).IP, 64), userAgent: text(record.UserAgent, 1_000) });
const unknownRecord = (record: Json): Mapped => ({ kind: undefined, time: record.ReceivedAt ?? record.ChangedAt, recipient: record.Recipient ?? record.Email });

const mappers: Record<string, (record: Json) => Mapped> = {
  Delivery: (record) => ({ kind: "delivered", time: record.DeliveredAt, recipient: record.Recipient }),
  Bounce: bounceRecord,
  SpamComplaint: (record) => ({ kind: "complained", time: record.BouncedAt, recipient: record.Email }),
  Open: (record) => ({ kind: "opened", time: record.ReceivedAt, recipient: record.Recipient, open: engagement(record) }),
  Click: (record) => ({
    kind: "clicked",
    time: record.ReceivedAt,
    recipient: record.Recipient,
    click: { link: text(record.OriginalLink), ...engagement(record) },
  }),
  SubscriptionChange: subscriptionChange,
};

/**
 * Bounce `Type`s (Postmark's bounce type table) that say the address is bad, and those that say "try
 * again later", each with the SES subtype the existing rules read. Every other type — SpamNotification
 * (the receiving server flagged the message, not a person), AutoResponder, Blocked, DMARCPolicy,
 * Unknown, … — is recorded and acted on by nobody; SpamComplaint counts as a complaint.
 */
const hardBounces: Record<string, string> = { HardBounce: "General", BadEmailAddress: "NoEmail", ManuallyDeactivated: "Suppressed" };
const softBounces: Record<string, string> = { SoftBounce: "General", Transient: "General", DnsError: "General" };

function bounceRecord(record: Json): Mapped {
  const base = { time: record.BouncedAt, recipient: record.Email };
  const bounceType = text(record.Type, 64);
  const details = text(record.Details);
  if (bounceType === "SpamComplaint") return { ...base, kind: "complained" };
  const hard = hardBounces[bounceType];
  const soft = softBounces[bounceType];
  if (hard === undefined && soft === undefined) {
    return { ...base, kind: undefined, reason: [bounceType || "unknown bounce type", details].filter(Boolean).join(": ") };
  }
  return {
    ...base,
    kind: "bounced",
    bounce: {
      severity: hard !== undefined ? "hard" : "soft",
      type: hard !== undefined ? "Permanent" : "Transient",
      subType: hard ?? soft!,
      providerType: bounceType,
      diagnosticCode: details,
      smtpStatus: smtpStatusIn(details),
      message: text(record.Description),
    },
  };
}

/**
 * A SubscriptionChange is posted whenever an address enters or leaves a stream's suppression list. A
 * recipient who unsubscribes is suppressed with reason ManualSuppression (Postmark's subscription change
 * webhook page), and that is `unsubscribed`. Suppression after a HardBounce or SpamComplaint comes with
 * its own Bounce / SpamComplaint record, which is the one acted on; this one is only recorded, as is a
 * reactivation (SuppressSending false).
 */
function subscriptionChange(record: Json): Mapped {
  const base = { time: record.ChangedAt, recipient: record.Recipient };
  const reason = text(record.SuppressionReason, 64);
  if (record.SuppressSending !== true) return { ...base, kind: undefined, reason: "reactivated" };
  if (reason === "HardBounce" || reason === "SpamComplaint") return { ...base, kind: undefined, reason: `suppressed by Postmark after ${reason}` };
  return { ...base, kind: "unsubscribed", ...(reason ? { reason } : {}) };
}

/** `Metadata` as tags, then the message's `Tag` under `tag`. */
function tagsOf(record: Json): Record<string, string> {
  const tags = tagsFrom(Object.entries(objectAt(record.Metadata)));
  return typeof record.Tag === "string" && record.Tag ? tagsFrom([["tag", record.Tag]], tags) : tags;
}

/** The Postmark adapter: stateless, so one instance serves every workspace. */
export function createPostmarkAdapter(): ProviderAdapter<PostmarkCredential> {
  return { provider: "postmark", parseCredential, fingerprint, verify, contents };
}
