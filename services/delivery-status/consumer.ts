/**
 * The RESEND_EVENTS consumer: decode the envelope, turn an email.* event into
 * a fact + timeline entry, apply it. Types this service does not act on are
 * acked and skipped; an email event it can never apply is poison.
 */
import type { ResendEvent } from "../../gen/ngsreach/events/v1/resend_event_pb.ts";
import type { ConsumerSpec } from "../shared/consumer.ts";
import { PoisonMessageError } from "../shared/errors.ts";
import { RESEND_EVENTS_STREAM } from "../shared/nats.ts";
import { decodeResendEvent } from "../shared/resend-events.ts";
import { usFromTimestamp } from "./send-mapping.ts";
import { appliedEventTypes, type EventFact } from "./send-projection.ts";
import type { TimelineEntry } from "./sends-repository.ts";
import { applyEvent, applyEvents, type ApplyEventDeps, type IncomingEvent } from "./use-cases/apply-event.ts";

/** Durable consumer name (also the dead-letter subject `dead.delivery-status`). */
export const consumerName = "delivery-status";

const maxIdLength = 256;

/** The fact and timeline entry of an email.* event; undefined for types this service skips; poison if unusable. */
export function toIncomingEvent(event: ResendEvent): IncomingEvent | undefined {
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
  if (email.tags.campaign_id) fact.campaignTag = email.tags.campaign_id;
  if (email.tags.subscriber_id) fact.subscriberTag = email.tags.subscriber_id;
  if (email.to.length === 1) fact.soleRecipient = email.to[0];

  const detail = email.detail;
  if (detail.case === "bounce") {
    const { type, subType, message, diagnosticCode } = detail.value;
    fact.bounce = { type, subType, message, diagnosticCode };
    timeline.bounce = fact.bounce;
  } else if (detail.case === "click") {
    const { link, ipAddress, userAgent, timestamp } = detail.value;
    timeline.click = { link, ipAddress, userAgent, timestampUs: timestamp ? usFromTimestamp(timestamp) : undefined };
  } else if (detail.case === "failed") {
    fact.failureReason = detail.value.reason;
    timeline.failed = { reason: detail.value.reason };
  } else if (detail.case === "suppressed") {
    fact.suppression = { type: detail.value.type, message: detail.value.message };
    timeline.suppressed = fact.suppression;
  }
  return { workspaceId: event.workspaceId, emailId: email.emailId, fact, timeline };
}

/** The consumer spec the host runs. */
export function resendEventsConsumer(deps: ApplyEventDeps): ConsumerSpec<ResendEvent> {
  return {
    name: consumerName,
    stream: RESEND_EVENTS_STREAM,
    filterSubjects: ["resend.events.*.email.>"],
    decode: (data) => decodeResendEvent(data),
    handle: async (event) => {
      const incoming = toIncomingEvent(event);
      if (incoming) await applyEvent(deps, incoming);
    },
    handleBatch: async (events) => {
      await applyEvents(deps, events.map(toIncomingEvent).filter((incoming) => incoming !== undefined));
    },
  };
}
