/**
 * Stored shapes <-> protobuf messages of the delivery status API.
 */
import { create } from "@bufbuild/protobuf";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import {
  SendEventSchema,
  SendSchema,
  SendStatus,
  type Send,
  type SendEvent,
} from "../../gen/ngsreach/delivery/v1/delivery_status_pb.ts";
import { BounceSchema } from "../../gen/ngsreach/events/v1/resend_event_pb.ts";
import { providerOfEmailId, providerToApi } from "../shared/providers.ts";
import type { StatusName } from "./send-projection.ts";
import type { StoredSend, TimelineEntry } from "./sends-repository.ts";

const statusByName: Record<StatusName, SendStatus> = {
  sent: SendStatus.SENT,
  delivery_delayed: SendStatus.DELIVERY_DELAYED,
  delivered: SendStatus.DELIVERED,
  opened: SendStatus.OPENED,
  clicked: SendStatus.CLICKED,
  bounced: SendStatus.BOUNCED,
  complained: SendStatus.COMPLAINED,
  failed: SendStatus.FAILED,
  suppressed: SendStatus.SUPPRESSED,
};

/** The stored name of a proto status; undefined for UNSPECIFIED and unknown values. */
export function statusName(status: SendStatus): StatusName | undefined {
  return (Object.keys(statusByName) as StatusName[]).find((name) => statusByName[name] === status);
}

/** Microseconds since the epoch -> Timestamp (undefined stays undefined). */
export function timestampFromUs(us: number | undefined): Timestamp | undefined {
  if (us === undefined || us === null) return undefined;
  const seconds = Math.floor(us / 1_000_000);
  return { $typeName: "google.protobuf.Timestamp", seconds: BigInt(seconds), nanos: (us - seconds * 1_000_000) * 1000 };
}

/** Timestamp -> microseconds since the epoch (sub-microsecond digits dropped). */
export function usFromTimestamp(timestamp: Timestamp): number {
  return Number(timestamp.seconds) * 1_000_000 + Math.floor(timestamp.nanos / 1000);
}

/** The API view of a stored send. */
export function toSendMessage(send: StoredSend): Send {
  const s = send.state;
  return create(SendSchema, {
    workspaceId: send.workspaceId,
    emailId: send.emailId,
    campaignId: s.campaignId,
    subscriberId: s.subscriberId,
    recipient: s.recipient,
    status: statusByName[s.status],
    attributed: s.attributed,
    sentTime: timestampFromUs(s.sentAtUs),
    deliveryDelayedTime: timestampFromUs(s.deliveryDelayedAtUs),
    deliveredTime: timestampFromUs(s.deliveredAtUs),
    firstOpenedTime: timestampFromUs(s.firstOpenedAtUs),
    firstClickedTime: timestampFromUs(s.firstClickedAtUs),
    bouncedTime: timestampFromUs(s.bouncedAtUs),
    bounce: s.bounce,
    lastSoftBounce: s.lastSoftBounce,
    lastSoftBounceTime: timestampFromUs(s.lastSoftBounceAtUs),
    softBounceCount: s.softBounceCount,
    complainedTime: timestampFromUs(s.complainedAtUs),
    failedTime: timestampFromUs(s.failedAtUs),
    failureReason: s.failureReason,
    suppressedTime: timestampFromUs(s.suppressedAtUs),
    suppression: s.suppression,
    openCount: s.openCount,
    clickCount: s.clickCount,
    lastEventTime: timestampFromUs(s.lastEventAtUs),
    recordedTime: timestampFromUs(s.recordedAtUs),
    updatedTime: timestampFromUs(send.updatedAtMs * 1000),
    // The email id says whose send it is (a Resend id has no prefix), so every stored send has one.
    provider: providerToApi(providerOfEmailId(send.emailId)),
    unsubscribedTime: timestampFromUs(s.unsubscribedAtUs),
  });
}

/** The API view of a timeline entry. */
export function toSendEventMessage(entry: TimelineEntry): SendEvent {
  const event = create(SendEventSchema, {
    svixId: entry.svixId,
    type: entry.type,
    eventTime: timestampFromUs(entry.eventAtUs),
    receivedTime: timestampFromUs(entry.receivedAtUs),
    providerType: entry.providerType ?? "",
    reconstructed: entry.reconstructed ?? false,
  });
  // create() fills what an entry stored before providers lacks (provider_type, smtp_status) with "".
  if (entry.bounce) event.detail = { case: "bounce", value: create(BounceSchema, entry.bounce) };
  else if (entry.click) {
    const { timestampUs, ...click } = entry.click;
    event.detail = { case: "click", value: { $typeName: "ngsreach.events.v1.Click", ...click, timestamp: timestampFromUs(timestampUs) } };
  } else if (entry.failed) event.detail = { case: "failed", value: { $typeName: "ngsreach.events.v1.Failure", ...entry.failed } };
  else if (entry.suppressed) {
    event.detail = { case: "suppressed", value: { $typeName: "ngsreach.events.v1.ResendSuppression", ...entry.suppressed } };
  }
  return event;
}
