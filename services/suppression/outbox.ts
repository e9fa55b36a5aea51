/**
 * Outbound events, exactly once per state change. The entry is serialised
 * into the subscriber document by the same write that makes the change; it is
 * published to JetStream with a message id derived from the change
 * (`<workspace>:<address>:v<version>`; every saved version is unique, so every
 * transition gets its own id), removed after the ack, and a sweep at start-up
 * and on a timer publishes whatever a crash or an outage left behind. Two
 * instances publishing the same entry is harmless: inside the stream's
 * duplicate window JetStream drops the second copy.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { JetStreamClient, PubAck } from "@nats-io/jetstream";
import { auditSubject, encodeAuditEntry, type AuditRecord } from "../shared/audit.ts";
import {
  SubscriberSuppressedSchema,
  SubscriberUnsuppressedSchema,
} from "../../gen/ngsreach/events/v1/domain_events_pb.ts";
import type { Logger } from "../shared/log.ts";
import { reasonToProto, sourceToProto } from "./proto-mapping.ts";
import type { SubscriberState, Transition } from "./subscriber-state.ts";
import type { SubscriberRepository } from "./subscriber-repository.ts";
import { isPseudonym } from "./erasure/address-hash.ts";
import { publishTraced } from "../shared/tracing/nats-spans.ts";

interface OutboxEntry {
  subject: string;
  msgId: string;
  /** Base64 protobuf. */
  payload: string;
}

/** The message id of a subscriber event: the document's key and the version the change saved. */
const subscriberMessageId = (workspaceId: string, email: string, version: number) => `${workspaceId}:${email}:v${version}`;

/** The address (or pseudonym) a subscriber event's message id names, or undefined for another id. */
export function addressOfMessageId(workspaceId: string, msgId: string): string | undefined {
  const match = /^(.*):v\d+$/s.exec(msgId);
  const key = match?.[1];
  return key?.startsWith(`${workspaceId}:`) ? key.slice(workspaceId.length + 1) || undefined : undefined;
}

/** Serialises the event announcing `transition` of `state` (already at its new version). */
export function outboxEntry(state: SubscriberState, transition: Transition): string {
  const { workspaceId, subscriberId } = state;
  // An erased address is announced without it (its pseudonym means nothing to a listener).
  const email = isPseudonym(state.email) ? "" : state.email;
  const msgId = subscriberMessageId(workspaceId, state.email, state.version);
  let subject: string;
  let bytes: Uint8Array;
  if (transition.kind === "suppressed") {
    const record = transition.record;
    subject = `subscriber.${workspaceId}.suppressed`;
    bytes = toBinary(
      SubscriberSuppressedSchema,
      create(SubscriberSuppressedSchema, {
        workspaceId,
        email,
        subscriberId,
        reason: reasonToProto(record.reason),
        source: sourceToProto(record.source),
        svixId: record.svixId,
        emailId: record.emailId,
        campaignId: record.campaignId,
        suppressedTime: timestampFromMs(record.atMs),
        actor: record.actor,
        note: record.note,
      }),
    );
  } else {
    subject = `subscriber.${workspaceId}.unsuppressed`;
    bytes = toBinary(
      SubscriberUnsuppressedSchema,
      create(SubscriberUnsuppressedSchema, {
        workspaceId,
        email,
        subscriberId,
        actor: transition.actor,
        note: transition.note,
        unsuppressedTime: timestampFromMs(transition.atMs),
        previousReason: reasonToProto(transition.removed.reason),
      }),
    );
  }
  return rawOutboxEntry(subject, msgId, bytes);
}

/** Serialises any event for an outbox (subject, message id, protobuf bytes). */
export function rawOutboxEntry(subject: string, msgId: string, bytes: Uint8Array): string {
  const entry: OutboxEntry = { subject, msgId, payload: Buffer.from(bytes).toString("base64") };
  return JSON.stringify(entry);
}

/** The subject a serialised entry is published on. */
export const outboxEntrySubject = (raw: string): string => (JSON.parse(raw) as OutboxEntry).subject;

/** Publishes one serialised entry; resolves with JetStream's ack. */
export async function publishOutboxEntry(js: JetStreamClient, raw: string): Promise<PubAck> {
  const entry = JSON.parse(raw) as OutboxEntry;
  return await publishTraced(js, entry.subject, Buffer.from(entry.payload, "base64"), { msgID: entry.msgId });
}

/** Serialises an audit entry of an operator's change (`audit.<ws>.suppression`, message id = entry id). */
export function auditOutboxEntry(record: AuditRecord): string {
  return rawOutboxEntry(auditSubject(record), record.id, encodeAuditEntry(record));
}

/** Publishes outbox entries and sweeps the ones left pending. */
export class OutboxPublisher {
  readonly #js: JetStreamClient;
  readonly #subscribers: SubscriberRepository;
  readonly #log: Logger;

  constructor(js: JetStreamClient, subscribers: SubscriberRepository, log: Logger) {
    this.#js = js;
    this.#subscribers = subscribers;
    this.#log = log;
  }

  /**
   * Publishes the given entries of one address and removes each after its ack.
   * Never throws: what fails stays in the outbox for the sweep.
   */
  async flush(workspaceId: string, email: string, entries: string[]): Promise<boolean> {
    try {
      let after: { version: number; left: number } | undefined;
      for (const raw of entries) {
        await publishOutboxEntry(this.#js, raw);
        after = await this.#subscribers.removeFromOutbox(workspaceId, email, raw);
      }
      // Entries another writer added meanwhile keep the mark: that writer (or the sweep) publishes them.
      if (after && after.left === 0) await this.#subscribers.clearOutboxPending(workspaceId, email, after.version);
      return true;
    } catch (error) {
      this.#log.warn("outbox publish failed; the sweep will retry", { workspaceId, error });
      return false;
    }
  }
}
