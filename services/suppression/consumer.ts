/**
 * The two durable consumers: provider events (bounces, complaints,
 * unsubscribes, Resend suppressions, deliveries) and SendRecorded (attribution). Each decodes and
 * hands the message to its use case; the shared loop acks after it returns.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { SendRecordedSchema, type SendRecorded } from "../../gen/ngsreach/events/v1/domain_events_pb.ts";
import type { ResendEvent } from "../../gen/ngsreach/events/v1/resend_event_pb.ts";
import type { ConsumerSpec } from "../shared/consumer.ts";
import { DOMAIN_EVENTS_STREAM, RESEND_EVENTS_STREAM } from "../shared/nats.ts";
import { decodeResendEvent } from "../shared/resend-events.ts";
import { applyResendEvent, consumedTypes } from "./use-cases/apply-resend-event.ts";
import type { SuppressionDeps } from "./use-cases/deps.ts";
import { recordSend } from "./use-cases/record-send.ts";

/** Durable consumer names (also the dead-letter subjects `dead.<name>`). */
export const consumerNames = Object.freeze({ events: "suppression-events", sends: "suppression-sends" });

export function resendEventsConsumer(deps: SuppressionDeps): ConsumerSpec<ResendEvent> {
  return {
    name: consumerNames.events,
    stream: RESEND_EVENTS_STREAM,
    filterSubjects: consumedTypes.map((type) => `resend.events.*.${type}`),
    decode: (data) => decodeResendEvent(data),
    // No ordering key: an address's state is a fold of the set of its events (address-facts.ts), so any
    // instance may take any message, in any order.
    handle: (event) => applyResendEvent(deps, event),
  };
}

export function sendRecordedConsumer(deps: SuppressionDeps): ConsumerSpec<SendRecorded> {
  return {
    name: consumerNames.sends,
    stream: DOMAIN_EVENTS_STREAM,
    filterSubjects: ["sends.*.recorded"],
    decode: (data) => fromBinary(SendRecordedSchema, data),
    handle: (send) => recordSend(deps, send),
  };
}
