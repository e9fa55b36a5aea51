/**
 * ListSubscriberSends (for SuppressionService.ExportSubscriberData, GDPR art. 15): every send of an
 * address or a subscriber id that is not erased, in email id order, each with its timeline in event-time
 * order, a slice of at most `entriesPerMessage` entries per message. A page of sends and one slice are in
 * memory at a time, however many sends and events the subscriber has.
 */
import type { SendsRepository, StoredSend, SubscriberMatch, TimelineCursor, TimelineEntry } from "../sends-repository.ts";

export const entriesPerMessage = 500;
const sendsPerPage = 50;

/** One message of the stream: the send and the next slice of its timeline (empty for a send with none). */
export interface SubscriberSendSlice {
  send: StoredSend;
  events: TimelineEntry[];
}

export async function* listSubscriberSends(repo: SendsRepository, workspaceId: string, subscriber: SubscriberMatch): AsyncGenerator<SubscriberSendSlice> {
  let after: string | undefined;
  do {
    const page = await repo.listBySubscriber(workspaceId, subscriber, after, sendsPerPage);
    for (const send of page.sends) yield* slicesOf(repo, send);
    after = page.next;
  } while (after !== undefined);
}

async function* slicesOf(repo: SendsRepository, send: StoredSend): AsyncGenerator<SubscriberSendSlice> {
  let cursor: TimelineCursor | undefined;
  do {
    // One more than a slice holds tells whether another slice follows.
    const entries = await repo.listTimeline(send, cursor, entriesPerMessage + 1);
    const events = entries.slice(0, entriesPerMessage);
    yield { send, events };
    const last = events.at(-1);
    cursor = entries.length > entriesPerMessage && last ? [last.eventAtUs, last.receivedAtUs, last.svixId] : undefined;
  } while (cursor);
}
