/**
 * Keeps the audit entries the other services publish (`audit.<ws>.<service>`
 * on DOMAIN_EVENTS) in the settings service's own collection, idempotent by
 * entry id: a redelivery or a second publish stores nothing new. An entry that
 * is malformed, or published on another workspace's subject, is dead-lettered.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import { decodeAuditEntry, type AuditRecord } from "../../shared/audit.ts";
import type { ConsumerSpec } from "../../shared/consumer.ts";
import { erasureRequestedSubject } from "../../shared/erasure-events.ts";
import { DOMAIN_EVENTS_STREAM } from "../../shared/nats.ts";
import type { AuditRepository } from "./audit-repository.ts";

/** Durable consumer name (also the dead-letter subject `dead.<name>`). */
export const auditConsumerName = "webhook-gateway-audit";

export function auditEntriesConsumer(audits: Pick<AuditRepository, "record">): ConsumerSpec<AuditRecord> {
  return {
    name: auditConsumerName,
    stream: DOMAIN_EVENTS_STREAM,
    filterSubjects: ["audit.*.*"],
    decode: (data, subject) => decodeAuditEntry(data, subject),
    handle: (entry) => audits.record(entry),
  };
}

/**
 * Whether this consumer has stored every audit entry of the workspace published before its latest
 * erasure request (all of them when it has none): no entry of the workspace lies between the
 * consumer's ack floor and the request. Only the request's own workspace counts, so other
 * workspaces' traffic never holds an erasure back.
 */
export async function auditEntriesStoredThroughErasure(jsm: JetStreamManager, workspaceId: string): Promise<boolean> {
  const request = await jsm.streams.getMessage(DOMAIN_EVENTS_STREAM, { last_by_subj: erasureRequestedSubject(workspaceId) });
  const through = request?.seq ?? (await jsm.streams.info(DOMAIN_EVENTS_STREAM)).state.last_seq;
  const floor = (await jsm.consumers.info(DOMAIN_EVENTS_STREAM, auditConsumerName)).ack_floor.stream_seq;
  if (floor >= through) return true;
  // The server's STREAM.MSG.GET takes next_by_subj; the client's type for it lists only seq and last_by_subj.
  const query = { seq: floor + 1, next_by_subj: `audit.${workspaceId}.*` };
  const next = await jsm.streams.getMessage(DOMAIN_EVENTS_STREAM, query);
  return next === null || next.seq > through;
}
