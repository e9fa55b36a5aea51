/**
 * Erasing one send of the subscriber, by the rules of every send write (README "Concurrency"): under the
 * send's in-process lock, and stored only if its version is still the one read — a lost guard reads and
 * redoes, so an event applied meanwhile is neither lost nor lets its copy of the address back in.
 *
 * The timeline goes first and the send document last: until the document is stored erased it still
 * matches the subscriber, so a redelivered request after a crash in between finds it and finishes. Once
 * erased, later writes keep the mark and store what they add without personal data (apply-event.ts,
 * record-send.ts).
 */
import { UnavailableError } from "../../shared/errors.ts";
import { normaliseAddress, projectSend } from "../send-projection.ts";
import { withSendLock } from "../send-locks.ts";
import { sendKey, type ErasureMark, type SendsRepository, type StoredSend, type SubscriberMatch } from "../sends-repository.ts";
import type { NotifyChange } from "../use-cases/apply-event.ts";
import { addressScrub, erasedFact, erasedRegistration, type Scrub } from "./personal-data.ts";
import { scrubTimeline } from "./scrub-timeline.ts";

export interface EraseDeps {
  repo: SendsRepository;
  notify: NotifyChange;
  now: () => number;
}

const maxAttempts = 50;

/** Erases the send if it is (still) one of the subscriber's; returns how many documents that changed. */
export async function eraseSend(deps: EraseDeps, workspaceId: string, emailId: string, subscriber: SubscriberMatch, erasure: ErasureMark): Promise<number> {
  return await withSendLock(sendKey(workspaceId, emailId), async () => {
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      const send = await deps.repo.get(workspaceId, emailId);
      if (!send || send.erased || !isSendOf(send, subscriber)) return 0;
      const scrub = addressScrub(addressesOf(send, subscriber));
      const refs = await deps.repo.timelineRefs(send);
      const entries = await scrubTimeline(deps.repo, workspaceId, emailId, refs.map((ref) => ref.svixId), scrub);
      const erased = erasedSend(send, scrub, erasure);
      if (await deps.repo.writeMany([{ send: erased, expectedVersion: send.version, markSendRecordedPending: false }])) {
        deps.notify({ send: erased });
        return entries + 1;
      }
    }
    throw new UnavailableError(`send ${workspaceId}:${emailId} changed concurrently ${maxAttempts} times in a row while being erased`);
  });
}

function isSendOf(send: StoredSend, subscriber: SubscriberMatch): boolean {
  return subscriber.emails.includes(normaliseAddress(send.state.recipient)) || (subscriber.subscriberId !== undefined && send.state.subscriberId === subscriber.subscriberId);
}

/** The request's addresses and whatever address the send itself holds (matched by subscriber id, it is the subscriber's). */
function addressesOf(send: StoredSend, subscriber: SubscriberMatch): Set<string> {
  const held = [send.state.recipient, send.registration?.recipient, ...send.facts.map((fact) => fact.soleRecipient)];
  return new Set([...subscriber.emails, ...held.filter((address): address is string => !!address).flatMap((address) => [address.trim(), normaliseAddress(address)])]);
}

/** The send without personal data: same facts (kinds, times, campaign tags), counts and status. */
function erasedSend(send: StoredSend, scrub: Scrub, erasure: ErasureMark): StoredSend {
  const registration = send.registration && erasedRegistration(send.registration);
  const facts = send.facts.map((fact) => erasedFact(fact, scrub));
  // updatedAtMs stays: erasing must not extend how long the send is kept (retention counts from it).
  return { ...send, version: send.version + 1, registration, facts, state: projectSend(registration, facts, send.retired), erased: erasure };
}
