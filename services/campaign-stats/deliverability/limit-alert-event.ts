/** The typed event of a bulk-sender crossing (`workspace.<ws>.deliverability`, DeliverabilityAlert). */
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { JetStreamClient } from "@nats-io/jetstream";
import { DeliverabilityAlertSchema, DeliverabilityLevel } from "../../../gen/ngsreach/events/v1/domain_events_pb.ts";
import { MailboxProvider as ProtoMailboxProvider } from "../../../gen/ngsreach/events/v1/mailbox_provider_pb.ts";
import { publishTraced } from "../../shared/tracing/nats-spans.ts";
import { limitAlertMessageId, type PendingLimitAlert } from "./bulk-sender-limits.ts";
import type { MailboxProvider } from "./mailbox-provider.ts";

/** The proto value of a mailbox provider. */
export const protoMailboxProvider: Readonly<Record<MailboxProvider, ProtoMailboxProvider>> = Object.freeze({
  gmail: ProtoMailboxProvider.GMAIL,
  microsoft: ProtoMailboxProvider.MICROSOFT,
  yahoo: ProtoMailboxProvider.YAHOO,
  apple: ProtoMailboxProvider.APPLE,
  other: ProtoMailboxProvider.OTHER,
});

const protoLevel = { warning: DeliverabilityLevel.WARNING, critical: DeliverabilityLevel.CRITICAL } as const;

/** The subject a workspace's bulk-sender crossings go to. */
export const limitAlertSubject = (workspaceId: string) => `workspace.${workspaceId}.deliverability`;

/** Publishes one crossing with its message id (one event per crossing, however often it is published). */
export async function publishLimitAlert(js: JetStreamClient, workspaceId: string, alert: PendingLimitAlert): Promise<void> {
  const message = create(DeliverabilityAlertSchema, {
    workspaceId,
    dayStartTime: timestampFromMs(alert.day),
    provider: protoMailboxProvider[alert.provider],
    level: protoLevel[alert.level],
    complaintRate: alert.rate,
    threshold: alert.threshold,
    delivered: BigInt(alert.delivered),
    complained: BigInt(alert.complained),
    crossing: alert.crossing,
    alertTime: timestampFromMs(alert.at),
  });
  await publishTraced(js, limitAlertSubject(workspaceId), toBinary(DeliverabilityAlertSchema, message), { msgID: limitAlertMessageId(workspaceId, alert) });
}
