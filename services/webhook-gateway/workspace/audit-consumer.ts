/**
 * Keeps the audit entries the other services publish (`audit.<ws>.<service>`
 * on DOMAIN_EVENTS) in the settings service's own collection, idempotent by
 * entry id: a redelivery or a second publish stores nothing new. An entry that
 * is malformed, or published on another workspace's subject, is dead-lettered.
 */
import { decodeAuditEntry, type AuditRecord } from "../../shared/audit.ts";
import type { ConsumerSpec } from "../../shared/consumer.ts";
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
