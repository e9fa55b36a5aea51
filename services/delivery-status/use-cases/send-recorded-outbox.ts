/**
 * The SendRecorded outbox: RecordSend sets a flag on the send in the same
 * write as the registration; the event and the registration's audit entry are
 * published (JetStream message ids from workspace + email id, so a second
 * publish is dropped inside the duplicate window) and only then the flag is
 * cleared. A sweep at start-up and periodically publishes whatever a crash
 * left flagged.
 */
import { createHash } from "node:crypto";
import type { AuditRecord } from "../../shared/audit.ts";
import { withSendLock } from "../send-locks.ts";
import { sendKey, type SendsRepository, type StoredSend } from "../sends-repository.ts";

/** Publishes SendRecorded and the audit entry of a registered send; resolves once JetStream acknowledged both. */
export interface SendRecordedPublisher {
  publishSendRecorded(send: StoredSend): Promise<void>;
}

export interface OutboxDeps {
  repo: SendsRepository;
  publisher: SendRecordedPublisher;
}

/**
 * The audit entry of a send's registration: the email id names what was registered; the recipient
 * stays out of the audit. Its id is derived from the registration, so every publish of it is the same.
 */
export function registrationAuditEntry(send: StoredSend & { registration: NonNullable<StoredSend["registration"]> }): AuditRecord {
  const { workspaceId, emailId, registration } = send;
  const id = createHash("sha256").update(`${workspaceId}\0${emailId}\0${registration.recordedAtUs}`).digest("hex").slice(0, 32);
  return {
    id: `delivery-status-${id}`,
    workspaceId,
    service: "delivery-status",
    action: "record_send",
    caller: registration.caller ?? "",
    actor: "",
    note: "",
    target: emailId,
    atMs: Math.floor(registration.recordedAtUs / 1000),
  };
}

/** Publishes, then marks done. */
export async function publishSendRecorded(deps: OutboxDeps, send: StoredSend): Promise<void> {
  if (!send.registration) return;
  await deps.publisher.publishSendRecorded(send);
  // Clearing the flag is a write to the send like any other, so it queues behind the send's writers:
  // FerretDB v1 runs even this `$unset` as "read the whole document, write the whole document back",
  // and outside the lock it reverted a fact written in between (seen as a lost open under load).
  await withSendLock(sendKey(send.workspaceId, send.emailId), () => deps.repo.clearPendingSendRecorded(send.workspaceId, send.emailId));
}

/** Publishes every pending SendRecorded (up to `limit`); returns how many. */
export async function sweepSendRecordedOutbox(deps: OutboxDeps, limit = 500): Promise<number> {
  const pending = await deps.repo.listPendingSendRecorded(limit);
  for (const send of pending) await publishSendRecorded(deps, send);
  return pending.length;
}
