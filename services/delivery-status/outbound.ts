/**
 * What this service sends out: SendRecorded and RecordSend's audit entries on
 * JetStream (DOMAIN_EVENTS, `sends.<ws>.recorded`, `audit.<ws>.delivery-status`)
 * and live change notifications on core NATS (`live.delivery.<ws>`) for
 * WatchSends on every instance.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import type { NatsConnection } from "@nats-io/nats-core";
import type { JetStreamClient } from "@nats-io/jetstream";
import { WatchSendsResponseSchema, type WatchSendsResponse } from "../../gen/ngsreach/delivery/v1/delivery_status_pb.ts";
import { SendRecordedSchema } from "../../gen/ngsreach/events/v1/domain_events_pb.ts";
import { publishAuditEntry } from "../shared/audit.ts";
import { publishLive } from "../shared/live.ts";
import { publishTraced } from "../shared/tracing/nats-spans.ts";
import { providerOfEmailId, providerToApi } from "../shared/providers.ts";
import { timestampFromUs, toSendEventMessage, toSendMessage } from "./send-mapping.ts";
import type { NotifyChange } from "./use-cases/apply-event.ts";
import { registrationAuditEntry, type SendRecordedPublisher } from "./use-cases/send-recorded-outbox.ts";

/** `live.delivery.<ws>`: where changes of one workspace's sends are announced. */
export const liveSubject = (workspaceId: string) => `live.delivery.${workspaceId}`;

/** `sends.<ws>.recorded`, message id from workspace + email id; then its audit entry (message id from the registration). */
export function jetStreamSendRecordedPublisher(js: JetStreamClient): SendRecordedPublisher {
  return {
    async publishSendRecorded(send) {
      const registration = send.registration!;
      const event = create(SendRecordedSchema, {
        workspaceId: send.workspaceId,
        emailId: send.emailId,
        campaignId: registration.campaignId,
        subscriberId: registration.subscriberId,
        recipient: registration.recipient,
        sentTime: timestampFromUs(registration.sentAtUs),
        recordedTime: timestampFromUs(registration.recordedAtUs),
        // Set for Resend too: the email id already says it, the field saves consumers parsing it.
        provider: providerToApi(providerOfEmailId(send.emailId)),
      });
      await publishTraced(js, `sends.${send.workspaceId}.recorded`, toBinary(SendRecordedSchema, event), {
        msgID: `${send.workspaceId}:${send.emailId}`,
      });
      await publishAuditEntry(js, registrationAuditEntry({ ...send, registration }));
    },
  };
}

/** Announces a change on core NATS; every instance's watchers hear it. */
export function liveNotifier(nc: NatsConnection): NotifyChange {
  return ({ send, event }) => {
    const change = create(WatchSendsResponseSchema, {
      send: toSendMessage(send),
      event: event ? toSendEventMessage(event) : undefined,
      changeTime: timestampNow(),
    });
    publishLive(nc, liveSubject(send.workspaceId), toBinary(WatchSendsResponseSchema, change));
  };
}

/** Reads a live notification; undefined if it is not one. */
export function decodeLiveChange(data: Uint8Array): WatchSendsResponse | undefined {
  try {
    return fromBinary(WatchSendsResponseSchema, data);
  } catch {
    return undefined;
  }
}
