/**
 * RecordSend: register a send (idempotently), apply whatever events arrived
 * before it, and publish SendRecorded and the registration's audit entry
 * through the outbox. A send erased before (erasure/) stores no recipient or
 * subscriber id again: its registration is kept without them, and a repeat is
 * told apart by its campaign only, the rest being no longer known.
 */
import { ConflictError } from "../../shared/errors.ts";
import { erasedRegistration } from "../erasure/personal-data.ts";
import { normaliseAddress, type Registration } from "../send-projection.ts";
import type { SendsRepository, StoredSend } from "../sends-repository.ts";
import type { NotifyChange } from "./apply-event.ts";
import { changeSend } from "./change-send.ts";
import { publishSendRecorded, type SendRecordedPublisher } from "./send-recorded-outbox.ts";

export interface RecordSendInput {
  workspaceId: string;
  emailId: string;
  campaignId: string;
  subscriberId: string;
  recipient: string;
  /** Defaults to the registration time. */
  sentAtUs?: number;
  /** The authenticated caller, kept with the registration for its audit entry (the RPC always sets it). */
  caller?: string;
}

export interface RecordSendDeps {
  repo: SendsRepository;
  notify: NotifyChange;
  publisher: SendRecordedPublisher;
  now: () => number;
  onPublishFailure: (error: unknown) => void;
}

const sameRegistration = (stored: Registration, input: RecordSendInput) =>
  stored.campaignId === input.campaignId &&
  stored.subscriberId === input.subscriberId &&
  normaliseAddress(stored.recipient) === normaliseAddress(input.recipient);

/** Registers the send; `created` is false for an identical repeat; a different one is a ConflictError. */
export async function recordSend(deps: RecordSendDeps, input: RecordSendInput): Promise<{ send: StoredSend; created: boolean }> {
  const nowUs = deps.now() * 1000;
  const { send, changed } = await changeSend(deps.repo, deps.now, input.workspaceId, input.emailId, (current) => {
    if (current?.registration) {
      if (current.erased ? current.registration.campaignId === input.campaignId : sameRegistration(current.registration, input)) return undefined;
      throw new ConflictError(`email_id ${input.emailId} is already registered with another campaign, subscriber or recipient`);
    }
    const registration: Registration = {
      campaignId: input.campaignId,
      subscriberId: input.subscriberId,
      recipient: input.recipient,
      sentAtUs: input.sentAtUs ?? nowUs,
      recordedAtUs: nowUs,
      ...(input.caller === undefined ? {} : { caller: input.caller }),
    };
    return { registration: current?.erased ? erasedRegistration(registration) : registration, markSendRecordedPending: true };
  });
  if (!changed) return { send, created: false };
  deps.notify({ send });
  // Published after the write; if this fails the outbox sweep publishes it later.
  await publishSendRecorded(deps, send).catch(deps.onPublishFailure);
  return { send, created: true };
}
