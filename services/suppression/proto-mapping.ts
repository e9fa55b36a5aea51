/**
 * Stored vocabulary <-> protobuf enums and messages, in one place for the RPC
 * handlers and the outbound events.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { SuppressionReason, SuppressionSource } from "../../gen/ngsreach/events/v1/domain_events_pb.ts";
import {
  SubscriberChangeKind,
  SubscriberStatus,
  SuppressionSchema,
  type Suppression,
} from "../../gen/ngsreach/suppression/v1/suppression_pb.ts";
import { isPseudonym } from "./erasure/address-hash.ts";
import { statusOf, type Reason, type Source, type SuppressionRecord } from "./subscriber-state.ts";

const reasons: Record<Reason, SuppressionReason> = {
  bounced: SuppressionReason.BOUNCED,
  complained: SuppressionReason.COMPLAINED,
  suppressed_by_resend: SuppressionReason.SUPPRESSED_BY_RESEND,
  soft_bounce_policy: SuppressionReason.SOFT_BOUNCE_POLICY,
  manual: SuppressionReason.MANUAL,
  unsubscribed: SuppressionReason.UNSUBSCRIBED,
  erased: SuppressionReason.ERASED,
};
const sources: Record<Source, SuppressionSource> = {
  event: SuppressionSource.EVENT,
  resend: SuppressionSource.RESEND,
  policy: SuppressionSource.POLICY,
  manual: SuppressionSource.MANUAL,
};
const statuses = {
  active: SubscriberStatus.ACTIVE,
  bounced: SubscriberStatus.BOUNCED,
  complained: SubscriberStatus.COMPLAINED,
  suppressed: SubscriberStatus.SUPPRESSED,
} as const;

export const reasonToProto = (reason: Reason): SuppressionReason => reasons[reason];
export const sourceToProto = (source: Source): SuppressionSource => sources[source];
export const statusToProto = (reason: Reason | undefined): SubscriberStatus => statuses[statusOf(reason)];
export const changeKindToProto = (kind: "suppressed" | "unsuppressed"): SubscriberChangeKind =>
  kind === "suppressed" ? SubscriberChangeKind.SUPPRESSED : SubscriberChangeKind.UNSUPPRESSED;

/** The stored reason of a proto reason; undefined for UNSPECIFIED or unknown values. */
export function reasonFromProto(reason: SuppressionReason): Reason | undefined {
  return (Object.keys(reasons) as Reason[]).find((key) => reasons[key] === reason);
}

/** A stored suppression as the API's Suppression message. */
export function suppressionToProto(email: string, subscriberId: string, record: SuppressionRecord): Suppression {
  const erased = isPseudonym(email);
  return create(SuppressionSchema, {
    email: erased ? "" : email,
    subscriberId,
    erased,
    status: statusToProto(record.reason),
    reason: reasonToProto(record.reason),
    source: sourceToProto(record.source),
    suppressedTime: timestampFromMs(record.atMs),
    svixId: record.svixId,
    emailId: record.emailId,
    campaignId: record.campaignId,
    actor: record.actor,
    note: record.note,
    detail: record.detail,
  });
}
