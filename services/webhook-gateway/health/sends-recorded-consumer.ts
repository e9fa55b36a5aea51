/**
 * How the gateway learns of sends: the SendRecorded events delivery status publishes
 * (`sends.<ws>.recorded` on DOMAIN_EVENTS), through a durable consumer of its own. A message that is
 * not a SendRecorded, lacks its recorded time, or names another workspace than its subject is
 * dead-lettered.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { SendRecordedSchema } from "../../../gen/ngsreach/events/v1/domain_events_pb.ts";
import type { ConsumerSpec } from "../../shared/consumer.ts";
import { PoisonMessageError } from "../../shared/errors.ts";
import { DOMAIN_EVENTS_STREAM } from "../../shared/nats.ts";
import { isWorkspaceId } from "../../shared/validation.ts";
import { noteSendRecorded, type NoteSendDeps } from "./note-send-recorded.ts";

/** Durable consumer name (also the dead-letter subject `dead.<name>`). */
export const sendsConsumerName = "webhook-gateway-sends";

/** What gap detection needs of a SendRecorded. */
export interface RecordedSend {
  workspaceId: string;
  recordedAt: Date;
}

/** The workspace and recorded time of a SendRecorded; PoisonMessageError when it has none or names another subject. */
export function decodeRecordedSend(data: Uint8Array, subject: string): RecordedSend {
  let workspaceId: string;
  let recordedAt: Date;
  try {
    const recorded = fromBinary(SendRecordedSchema, data);
    workspaceId = recorded.workspaceId;
    if (!recorded.recordedTime) throw new PoisonMessageError("SendRecorded without recorded_time");
    recordedAt = timestampDate(recorded.recordedTime);
  } catch (error) {
    if (error instanceof PoisonMessageError) throw error;
    throw new PoisonMessageError(`not a SendRecorded protobuf: ${(error as Error).message}`, { cause: error });
  }
  if (!isWorkspaceId(workspaceId) || subject !== `sends.${workspaceId}.recorded`) {
    throw new PoisonMessageError(`SendRecorded of workspace "${workspaceId}" on ${subject}`);
  }
  return { workspaceId, recordedAt };
}

/** The consumer spec the service host runs (every instance shares the durable consumer). */
export function sendsRecordedConsumer(deps: NoteSendDeps): ConsumerSpec<RecordedSend> {
  return {
    name: sendsConsumerName,
    stream: DOMAIN_EVENTS_STREAM,
    filterSubjects: ["sends.*.recorded"],
    decode: decodeRecordedSend,
    handle: (send) => noteSendRecorded(deps, send.workspaceId, send.recordedAt),
  };
}
