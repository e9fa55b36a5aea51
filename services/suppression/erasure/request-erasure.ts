/**
 * EraseSubscriber: accept an erasure request and make it durable. The addresses are resolved here (the
 * given one, or every address known under the subscriber id); the record — no address in it — is
 * inserted together with its outbox (the ErasureRequested, which carries the addresses, and the audit
 * entry, which names the erasure instead), then the outbox is published and emptied. A crash between
 * the insert and the ack leaves the outbox for the sweep (`sweepErasureOutbox`), so an accepted request
 * always reaches every service.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { randomUUID } from "node:crypto";
import { ErasureRequestedSchema } from "../../../gen/ngsreach/events/v1/domain_events_pb.ts";
import { FailedPreconditionError, NotFoundError } from "../../shared/errors.ts";
import { erasureRequestedMessageId, erasureRequestedSubject } from "../../shared/erasure-events.ts";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { Logger } from "../../shared/log.ts";
import { auditOutboxEntry, outboxEntrySubject, publishOutboxEntry, rawOutboxEntry } from "../outbox.ts";
import type { SuppressionDeps } from "../use-cases/deps.ts";
import type { ErasureRecord, ErasureRepository } from "./erasure-repository.ts";

/** Most addresses one subscriber id may stand for in one request (more: erase them by address). */
export const maxAddressesPerErasure = 1000;

export interface ErasureDeps {
  suppression: SuppressionDeps;
  erasures: ErasureRepository;
  js: JetStreamClient;
  log: Logger;
}

export interface ErasureRequest {
  workspaceId: string;
  target: { email: string } | { subscriberId: string };
  caller: string;
  actor: string;
  note: string;
  purgeStream: boolean;
}

/** Resolves the addresses, stores the request with its outbox, publishes it; returns the new record. */
export async function requestErasure(deps: ErasureDeps, request: ErasureRequest): Promise<ErasureRecord> {
  if (!deps.suppression.hasher) throw new FailedPreconditionError("erasure keeps a keyed hash of the address: set SECRETS_KEY on the suppression service");
  const { workspaceId } = request;
  let emails: string[];
  let subscriberId = "";
  if ("email" in request.target) {
    emails = [request.target.email];
    subscriberId = (await deps.suppression.subscribers.get(workspaceId, request.target.email))?.state.subscriberId ?? "";
  } else {
    subscriberId = request.target.subscriberId;
    const known = await deps.suppression.subscribers.allBySubscriberId(workspaceId, subscriberId, maxAddressesPerErasure + 1);
    if (known.length === 0) throw new NotFoundError("subscriber_id");
    if (known.length > maxAddressesPerErasure) throw new FailedPreconditionError(`subscriber_id has more than ${maxAddressesPerErasure} addresses: erase them by email`);
    emails = known.map((item) => item.state.email);
  }
  const erasureId = randomUUID();
  const atMs = deps.suppression.now();
  const requested = create(ErasureRequestedSchema, { workspaceId, erasureId, emails, subscriberId, requestedTime: timestampFromMs(atMs) });
  const record: ErasureRecord = {
    workspaceId,
    erasureId,
    requestedAtMs: atMs,
    caller: request.caller,
    actor: request.actor,
    addresses: emails.length,
    purgeStream: request.purgeStream,
    services: {},
    outbox: [
      rawOutboxEntry(erasureRequestedSubject(workspaceId), erasureRequestedMessageId(erasureId), toBinary(ErasureRequestedSchema, requested)),
      auditOutboxEntry({
        id: `suppression-erasure-${erasureId}`,
        workspaceId,
        service: "suppression",
        action: "erase_subscriber",
        caller: request.caller,
        actor: request.actor,
        note: request.note,
        target: `erasure:${erasureId}`,
        atMs,
      }),
    ],
  };
  await deps.erasures.create(record);
  await flushErasureOutbox(deps, record);
  return (await deps.erasures.get(workspaceId, erasureId)) ?? record;
}

/** Publishes a record's outbox entries in order; what fails stays for the sweep. Never throws. */
export async function flushErasureOutbox(deps: ErasureDeps, record: ErasureRecord): Promise<void> {
  try {
    for (const entry of record.outbox) {
      const ack = await publishOutboxEntry(deps.js, entry);
      // The request's sequence, to delete it once every service answered (it carries the addresses).
      const isRequest = outboxEntrySubject(entry) === erasureRequestedSubject(record.workspaceId);
      await deps.erasures.published(record.workspaceId, record.erasureId, entry, isRequest ? ack.seq : undefined);
    }
  } catch (error) {
    deps.log.warn("erasure outbox publish failed; the sweep will retry", { workspaceId: record.workspaceId, erasureId: record.erasureId, error });
  }
}

/** Publishes what a crash or an outage left in erasure outboxes. */
export async function sweepErasureOutbox(deps: ErasureDeps): Promise<void> {
  for (const record of await deps.erasures.withOutbox(100)) await flushErasureOutbox(deps, record);
}
