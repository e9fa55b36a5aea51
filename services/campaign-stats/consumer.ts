/**
 * The two queue entry points: Resend events (RESEND_EVENTS) and send
 * registrations (SendRecorded on DOMAIN_EVENTS), each through its own durable
 * consumer. Decode, then hand to the ingest use cases.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { SendRecordedSchema, type SendRecorded } from "../../gen/ngsreach/events/v1/domain_events_pb.ts";
import type { ResendEvent } from "../../gen/ngsreach/events/v1/resend_event_pb.ts";
import type { ConsumerSpec } from "../shared/consumer.ts";
import { PoisonMessageError } from "../shared/errors.ts";
import { DOMAIN_EVENTS_STREAM, RESEND_EVENTS_STREAM } from "../shared/nats.ts";
import { decodeResendEvent } from "../shared/resend-events.ts";
import { isWorkspaceId } from "../shared/validation.ts";
import { applyResendEvents, applySendsRecorded, type IngestDeps } from "./use-cases/ingest.ts";

export const eventsConsumerName = "campaign-stats-events";
export const sendsConsumerName = "campaign-stats-sends";

/** Resend email events. */
export function resendEventsConsumer(deps: IngestDeps): ConsumerSpec<ResendEvent> {
  return {
    name: eventsConsumerName,
    stream: RESEND_EVENTS_STREAM,
    filterSubjects: ["resend.events.*.email.>"],
    decode: (data) => decodeResendEvent(data),
    handle: (event) => applyResendEvents(deps, [event]),
    handleBatch: (events) => applyResendEvents(deps, events),
  };
}

/** Reads a SendRecorded; anything without the ids it promises is poison. */
export function decodeSendRecorded(data: Uint8Array): SendRecorded {
  let recorded: SendRecorded;
  try {
    recorded = fromBinary(SendRecordedSchema, data);
  } catch (error) {
    throw new PoisonMessageError(`not a SendRecorded protobuf: ${(error as Error).message}`, { cause: error });
  }
  if (!isWorkspaceId(recorded.workspaceId) || !recorded.emailId || !recorded.campaignId) {
    throw new PoisonMessageError("SendRecorded lacks workspace_id, email_id or campaign_id");
  }
  return recorded;
}

/** Send registrations: the attribution copy of this service. */
export function sendRecordedConsumer(deps: IngestDeps): ConsumerSpec<SendRecorded> {
  return {
    name: sendsConsumerName,
    stream: DOMAIN_EVENTS_STREAM,
    filterSubjects: ["sends.*.recorded"],
    decode: (data) => decodeSendRecorded(data),
    handle: (recorded) => applySendsRecorded(deps, [recorded]),
    handleBatch: (registrations) => applySendsRecorded(deps, registrations),
  };
}
