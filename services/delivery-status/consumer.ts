/**
 * The RESEND_EVENTS consumer: decode the envelope, turn an email.* event into
 * a fact + timeline entry, apply it. Types this service does not act on are
 * acked and skipped; an email event it can never apply is poison. Every
 * provider's envelope is read alike: its ids arrive namespaced
 * ("sendgrid:<id>"), so no rule here depends on the provider.
 */
import type { ResendEvent } from "../../gen/ngsreach/events/v1/resend_event_pb.ts";
import type { ConsumerSpec } from "../shared/consumer.ts";
import { PoisonMessageError } from "../shared/errors.ts";
import { RESEND_EVENTS_STREAM } from "../shared/nats.ts";
import { isReconstructed } from "../shared/reconstructed-events.ts";
import { decodeResendEvent } from "../shared/resend-events.ts";
import { defaultClickIpPolicy, storedClickIp, type ClickIpPolicy } from "./click-ip.ts";
import { usFromTimestamp } from "./send-mapping.ts";
import { appliedEventTypes, type EventFact } from "./send-projection.ts";
import type { TimelineEntry } from "./sends-repository.ts";
import { applyEvent, applyEvents, type ApplyEventDeps, type IncomingEvent } from "./use-cases/apply-event.ts";

/** Durable consumer name (also the dead-letter subject `dead.delivery-status`). */
export const consumerName = "delivery-status";

const maxIdLength = 256;

/**
 * The fact and timeline entry of an email.* event; undefined for types this service skips; poison if unusable.
 * `clickIp`: how much of a click's IP address the timeline entry keeps (STORE_CLICK_IP).
 */
export function toIncomingEvent(event: ResendEvent, clickIp: ClickIpPolicy = defaultClickIpPolicy): IncomingEvent | undefined {
  const kind = (appliedEventTypes as Record<string, EventFact["kind"] | undefined>)[event.type];
  if (!kind) return undefined;
  const email = event.email;
  if (!email || !email.emailId) throw new PoisonMessageError(`${event.type} event without data.email_id`);
  if (email.emailId.length > maxIdLength || /[\u0000-\u001f]/.test(email.emailId)) {
    throw new PoisonMessageError(`${event.type} event with an unusable data.email_id`);
  }
  if (event.svixId.length > maxIdLength) throw new PoisonMessageError("svix_id longer than 256 characters");
  const receivedAtUs = event.receivedTime ? usFromTimestamp(event.receivedTime) : 0;
  // DESIGN: event time from the envelope, else the email's created_at, else when the gateway received it.
  const atUs = event.eventTime ? usFromTimestamp(event.eventTime) : email.createdAt ? usFromTimestamp(email.createdAt) : receivedAtUs;

  const fact: EventFact = { svixId: event.svixId, kind, atUs };
  const timeline: TimelineEntry = {
    workspaceId: event.workspaceId,
    emailId: email.emailId,
    svixId: event.svixId,
    type: event.type,
    eventAtUs: atUs,
    receivedAtUs,
  };
  // Only another provider's events have their own type and bounce classification: Resend's entries stay as they were.
  if (email.providerType) timeline.providerType = email.providerType;
  if (email.tags.campaign_id) fact.campaignTag = email.tags.campaign_id;
  if (email.tags.subscriber_id) fact.subscriberTag = email.tags.subscriber_id;
  if (email.to.length === 1) fact.soleRecipient = email.to[0];
  // Its event time is only the send time (a lower bound), so the fold lets a real fact of its kind replace it.
  if (isReconstructed(event)) {
    fact.reconstructed = true;
    timeline.reconstructed = true;
  }

  const detail = email.detail;
  if (detail.case === "bounce") {
    const { type, subType, message, diagnosticCode, providerType, smtpStatus } = detail.value;
    fact.bounce = { type, subType, message, diagnosticCode };
    if (providerType) fact.bounce.providerType = providerType;
    if (smtpStatus) fact.bounce.smtpStatus = smtpStatus;
    timeline.bounce = fact.bounce;
  } else if (detail.case === "click") {
    const { link, ipAddress, userAgent, timestamp } = detail.value;
    timeline.click = { link, ipAddress: storedClickIp(ipAddress, clickIp), userAgent, timestampUs: timestamp ? usFromTimestamp(timestamp) : undefined };
  } else if (detail.case === "failed") {
    fact.failureReason = detail.value.reason;
    timeline.failed = { reason: detail.value.reason };
  } else if (detail.case === "suppressed") {
    fact.suppression = { type: detail.value.type, message: detail.value.message };
    timeline.suppressed = fact.suppression;
  }
  return { workspaceId: event.workspaceId, emailId: email.emailId, fact, timeline };
}

/** The consumer spec the host runs; `clickIp` as in toIncomingEvent. */
export function resendEventsConsumer(deps: ApplyEventDeps, clickIp: ClickIpPolicy = defaultClickIpPolicy): ConsumerSpec<ResendEvent> {
  return {
    name: consumerName,
    stream: RESEND_EVENTS_STREAM,
    filterSubjects: ["resend.events.*.email.>"],
    decode: (data) => decodeResendEvent(data),
    handle: async (event) => {
      const incoming = toIncomingEvent(event, clickIp);
      if (!incoming) return "skipped";
      await applyEvent(deps, incoming);
    },
    handleBatch: async (events) => {
      const incoming = events.map((event) => toIncomingEvent(event, clickIp)).filter((entry) => entry !== undefined);
      await applyEvents(deps, incoming);
      return { skipped: events.length - incoming.length };
    },
  };
}
