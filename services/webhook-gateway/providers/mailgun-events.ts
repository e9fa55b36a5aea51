/**
 * One Mailgun `event-data` object as a ProviderEvent. Fields are those of Mailgun's "Event Structure"
 * (Events API), which its webhooks post unchanged; the mapping onto event kinds is issue 14's, with two
 * refinements for what a permanent failure's `reason` says (see `failed`).
 */
import { BadProviderBodyError, type EventMapping, type ProviderEvent } from "./provider-adapter.ts";
import { fromUnixSeconds, isObject, maxIdLength, objectAt, optionalId, requiredId, smtpStatusIn, tagsFrom, text, type Json } from "./provider-fields.ts";

export function mailgunEvent(data: Json): ProviderEvent {
  const type = data.event;
  if (typeof type !== "string" || type === "" || type.length > 64) {
    throw new BadProviderBodyError("Mailgun event-data has no event type (a string of 1 to 64 characters)");
  }
  const eventId = requiredId(data.id, "Mailgun event-data.id");
  const headers = objectAt(objectAt(data.message).headers);
  const mapped = mappers[type]?.(data) ?? { kind: undefined };
  const recipient = text(data.recipient, 512);
  return {
    provider: "mailgun",
    eventId,
    kind: mapped.kind,
    providerType: type,
    messageId: messageIdOf(headers["message-id"]),
    eventTime: fromUnixSeconds(data.timestamp),
    recipients: recipient ? [recipient] : [],
    from: text(headers.from, 512),
    subject: text(headers.subject),
    tags: tagsOf(data),
    ...(mapped.bounce ? { bounce: mapped.bounce } : {}),
    ...(mapped.click ? { click: mapped.click } : {}),
    ...(mapped.open ? { open: mapped.open } : {}),
    ...(mapped.reason ? { reason: mapped.reason } : {}),
  };
}

/**
 * Mailgun's send API answers the id in angle brackets (`<2018...@example.org>`) while events carry it
 * bare; the bare form is the message id, and RecordSend for Mailgun should strip the brackets the same way.
 */
function messageIdOf(value: unknown): string {
  const id = optionalId(value, "Mailgun message.headers.message-id").trim();
  const bare = id.startsWith("<") && id.endsWith(">") ? id.slice(1, -1) : id;
  if (bare.length > maxIdLength) throw new BadProviderBodyError(`Mailgun message-id must be at most ${maxIdLength} characters`);
  return bare;
}


const engagement = (data: Json) => ({ ipAddress: text(data.ip, 64), userAgent: text(objectAt(data["client-info"])["user-agent"], 1_000) });

const mappers: Record<string, (data: Json) => EventMapping> = {
  accepted: () => ({ kind: "sent" }),
  delivered: () => ({ kind: "delivered" }),
  failed,
  // Mailgun refused the send request itself (Event Types: "rejected").
  rejected: (data) => ({ kind: "failed", reason: text(objectAt(data.reject).reason) }),
  complained: () => ({ kind: "complained" }),
  opened: (data) => ({ kind: "opened", open: engagement(data) }),
  clicked: (data) => ({ kind: "clicked", click: { link: text(data.url), ...engagement(data) } }),
  unsubscribed: () => ({ kind: "unsubscribed" }),
};

// Mailgun's own lists (Stats API, failed.permanent: suppress-bounce, suppress-unsubscribe,
// suppress-complaint): it did not try to deliver, as SendGrid's "dropped" for a suppression list.
const suppressionReasons = new Set(["suppress-bounce", "suppress-unsubscribe", "suppress-complaint"]);

/**
 * `severity: permanent` is a hard bounce and `temporary` a soft one (issue 14), except that a permanent
 * failure because the address is on one of Mailgun's suppression lists is `suppressed` (no delivery was
 * attempted, so it is no bounce), and one because retries ran out ("old": Mailgun drops a message after
 * 8 hours of temporary failures, "Too old") is soft — it says nothing certain about the address.
 */
function failed(data: Json): EventMapping {
  const reason = text(data.reason, 64);
  const status = objectAt(data["delivery-status"]);
  if (data.severity === "permanent" && suppressionReasons.has(reason)) {
    return { kind: "suppressed", reason: [reason, text(status.description)].filter(Boolean).join(": ") };
  }
  const hard = data.severity === "permanent" && reason !== "old";
  const message = text(status.message) || text(status.description);
  const diagnosticCode = [text(status.code, 16), text(status.message)].filter(Boolean).join(" ");
  return {
    kind: "bounced",
    bounce: {
      severity: hard ? "hard" : "soft",
      type: hard ? "Permanent" : "Transient",
      subType: "General",
      providerType: [text(data.severity, 32), reason].filter(Boolean).join("/") || "failed",
      diagnosticCode,
      smtpStatus: text(status["enhanced-code"], 32) || text(status["bounce-code"], 32) || smtpStatusIn(message),
      message,
    },
  };
}

/** `user-variables` as tags, then Mailgun's tag labels joined under `tags`. */
function tagsOf(data: Json): Record<string, string> {
  const tags = tagsFrom(Object.entries(isObject(data["user-variables"]) ? data["user-variables"] : {}));
  const labels = Array.isArray(data.tags) ? data.tags.filter((tag): tag is string => typeof tag === "string") : [];
  return labels.length ? tagsFrom([["tags", labels.join(",")]], tags) : tags;
}
