/**
 * What every sending provider's webhook adapter gives the gateway (issue 14): verify a request with the
 * workspace's credentials for that provider, then split the verified body into events of one vocabulary.
 * One file per provider implements it (`sendgrid.ts`, `mailgun.ts`, `postmark.ts`, `ses.ts`); the gateway
 * picks the adapter by the path (`/webhooks/{provider}`), and nothing past the adapter knows which provider
 * an event came from except through `ProviderEvent.provider`.
 *
 * Adapters are pure apart from what they are handed (a clock, a token memory, a certificate fetcher): no
 * database, no NATS, no logging — so each is tested alone with fixtures from the provider's documentation.
 */

import type { Provider } from "../../shared/providers.ts";

export { providers, type Provider } from "../../shared/providers.ts";

/** The one vocabulary of event kinds every provider maps onto (DESIGN.md "More than one sending provider"). */
export type EventKind =
  | "sent"
  | "delivery_delayed"
  | "delivered"
  | "bounced"
  | "complained"
  | "opened"
  | "clicked"
  | "failed"
  | "suppressed"
  | "unsubscribed";

/** A bounce, with the provider's own words kept beside the verdict. */
export interface BounceDetail {
  /** hard: the address is bad (suppress); soft: try again later (counts toward the soft-bounce policy). */
  severity: "hard" | "soft";
  /**
   * Mapped onto Resend's (SES's) vocabulary so the existing rules apply unchanged: "Permanent",
   * "Transient" or "Undetermined"; `subType` likewise ("General", "NoEmail", "Suppressed",
   * "MailboxFull", "MessageTooLarge", "ContentRejected", "AttachmentRejected", or the provider's own).
   */
  type: string;
  subType: string;
  /** The provider's own classification, verbatim (e.g. Postmark "HardBounce", SendGrid "blocked"). */
  providerType: string;
  /** Remote SMTP diagnostic and status ("550 5.1.1 ..." / "5.1.1"), empty when not given. */
  diagnosticCode: string;
  smtpStatus: string;
  message: string;
}

/** One event of one message, whatever the provider. */
export interface ProviderEvent {
  provider: Provider;
  /**
   * The provider's id of this event, identical on every retry of it: the deduplication key (Nats-Msg-Id
   * and every consumer's idempotency key). SNS `MessageId`, SendGrid `sg_event_id`, Mailgun
   * `event-data.id`, Postmark: a stable hash (no event id of its own). At most 256 characters.
   */
  eventId: string;
  /** undefined: an event recorded in the timeline but acted on by nobody (e.g. Postmark SpamNotification). */
  kind: EventKind | undefined;
  /** The provider's own type, verbatim ("Bounce", "dropped", "failed"…), shown in the timeline. */
  providerType: string;
  /**
   * The provider's message id, which is RecordSend's `email_id` for this provider: SES `mail.messageId`,
   * SendGrid `sg_message_id` up to its first ".", Postmark `MessageID`, Mailgun `message.headers.message-id`.
   */
  messageId: string;
  /** When the provider says it happened; undefined if it did not say (the gateway then uses receive time). */
  eventTime: Date | undefined;
  /**
   * The addresses this event is about. For an SES bounce or complaint exactly the bounced / complained
   * recipients (suppress those, each once); otherwise the message's recipient(s) as the provider reports
   * them. Verbatim; may be empty when the provider does not say.
   */
  recipients: string[];
  /**
   * True when the provider names exactly which recipients the event is about (SES: a bounce's
   * bouncedRecipients, a complaint's complainedRecipients, a delivery's recipients): each of them is
   * affected, and no one else.
   */
  recipientsNamed?: boolean;
  from: string;
  subject: string;
  /** Custom metadata the sender attached (SendGrid custom args, Mailgun user-variables, Postmark Metadata, SES tags). */
  tags: Record<string, string>;
  bounce?: BounceDetail;
  click?: { link: string; ipAddress: string; userAgent: string };
  open?: { ipAddress: string; userAgent: string };
  /** Why a message failed, was dropped or suppressed (the provider's reason, verbatim). */
  reason?: string;
  /**
   * This event's own JSON when the body holds several (SendGrid's array): stored instead of the whole
   * body, which would be kept once per event. Unset: the verified body is the event's.
   */
  raw?: Buffer;
}

/** What an adapter decides from one event's type and fields, before the fields every event has. */
export type EventMapping = Pick<ProviderEvent, "kind" | "bounce" | "click" | "open" | "reason">;

/** A verification failure, each answered 401 with no effect. */
export type RejectReason =
  | "missing_signature" // the headers or fields that carry the signature are absent
  | "bad_signature" // present but none of the credentials verifies it
  | "expired_timestamp" // outside ±5 minutes
  | "bad_credentials" // Postmark Basic auth wrong or absent
  | "topic_not_allowed" // SNS TopicArn not among the workspace's
  | "bad_certificate_url" // SNS SigningCertURL not https on an SNS host
  | "token_reused"; // Mailgun token seen with another event

export type Verdict = { ok: true } | { ok: false; reason: RejectReason };

/** The request as the gateway read it: lower-cased headers and the raw body bytes. */
export interface VerifyRequest {
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  nowMs: number;
}

/** What a verified body holds: events to publish, or (SNS) a control message the gateway acts on itself. */
export type Contents =
  | { kind: "events"; events: ProviderEvent[] }
  | { kind: "subscription_confirmation"; topicArn: string; subscribeUrl: string }
  | { kind: "unsubscribe_confirmation"; topicArn: string };

/** A body that verified but cannot be read as the provider's events: answered 400, nothing stored. */
export class BadProviderBodyError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "BadProviderBodyError";
  }
}

/**
 * Verification could not finish because something it needs is out of reach now (SNS: the signing
 * certificate could not be fetched): answered 503, nothing stored. Not a RejectReason because a 401 is
 * final for the provider — SNS treats every status below 500 as delivered and never retries it — so a
 * passing outage would lose real events; a 5xx makes it retry.
 */
export class ProviderUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ProviderUnavailableError";
  }
}

/**
 * One provider's adapter. `Credential` is the parsed form of what the workspace stored for this provider
 * (a public key, a signing key, a user:password pair, topic ARNs); a workspace may hold two during a
 * rotation, and any of them may verify.
 */
export interface ProviderAdapter<Credential> {
  provider: Provider;
  /**
   * Checks and parses a credential as pasted by the operator (SetWebhookSecret): throws an Error whose
   * message says what is wrong (never echoing the value), so the RPC can answer InvalidArgument.
   */
  parseCredential(text: string): Credential;
  /** A fingerprint safe to show (never the credential itself). */
  fingerprint(text: string): string;
  /**
   * Verifies before anything is parsed beyond what verification needs. Throws ProviderUnavailableError
   * (503) when verification depends on something unreachable; every other failure is a Verdict (401).
   */
  verify(request: VerifyRequest, credentials: readonly Credential[]): Promise<Verdict>;
  /** Reads a verified body; throws BadProviderBodyError when it is not the provider's event shape. */
  contents(body: Buffer): Contents;
}
