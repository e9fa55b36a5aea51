/**
 * Applying Resend events to their sends: keep each timeline entry, add each
 * fact once per svix id (seen on the send document or, once the send retired
 * facts, on the event's timeline entry), recompute the state, tell live
 * watchers. A batch of events writes its timeline entries in one insert and
 * its sends in one bulk write, one write per send however many of its events
 * the batch holds. An event of an erased send (a retry, a redelivery, a
 * reconciliation) brings no personal data back: its fact and, before the send
 * write lists it, its timeline entry are stored scrubbed (erasure/).
 */
import { anyAddressScrub, erasedEntry, erasedFact } from "../erasure/personal-data.ts";
import { scrubTimeline } from "../erasure/scrub-timeline.ts";
import type { EventFact } from "../send-projection.ts";
import type { SendsRepository, StoredSend, TimelineEntry } from "../sends-repository.ts";
import { changeSends } from "./change-send.ts";

/** An event as the consumer hands it over. */
export interface IncomingEvent {
  workspaceId: string;
  emailId: string;
  fact: EventFact;
  timeline: TimelineEntry;
}

/** A state change, for live watchers (losing one is acceptable). */
export type NotifyChange = (change: { send: StoredSend; event?: TimelineEntry }) => void;

export interface ApplyEventDeps {
  repo: SendsRepository;
  notify: NotifyChange;
  now: () => number;
}

/**
 * Applies the event; true if it changed the send, false if this svix id was
 * applied before. Works whether or not the send was registered yet: an
 * unregistered send is created from the event and RecordSend completes it.
 */
export async function applyEvent(deps: ApplyEventDeps, event: IncomingEvent): Promise<boolean> {
  return (await applyEvents(deps, [event])) === 1;
}

/**
 * Applies several events (any sends, repeats included); returns how many facts the winning decisions
 * added. When the bulk write loses a version guard (another instance wrote) and the sends are redone one
 * by one, a send the bulk write did store is found unchanged by its redo, so its notification is skipped:
 * watchers see its next change (live updates are best effort, the stored facts are exact).
 */
export async function applyEvents(deps: ApplyEventDeps, events: readonly IncomingEvent[]): Promise<number> {
  if (events.length === 0) return 0;
  // Timeline first: if we crash before the send write, the redelivery finds the entries already there.
  await deps.repo.putTimelineEntries(events.map((event) => event.timeline));
  const bySend = new Map<string, IncomingEvent[]>();
  for (const event of events) {
    const key = `${event.workspaceId}:${event.emailId}`;
    bySend.set(key, [...(bySend.get(key) ?? []), event]);
  }
  const groups = [...bySend.values()];
  // What each send's winning decision added (a redo decides again).
  const added = groups.map((): EventFact[] => []);
  const results = await changeSends(
    deps.repo,
    deps.now,
    groups.map((group, index) => ({
      workspaceId: group[0]!.workspaceId,
      emailId: group[0]!.emailId,
      svixIds: group.map((event) => event.fact.svixId),
      decide: (current: StoredSend | undefined, folded: ReadonlySet<string>) => {
        added[index] = newFacts(current, folded, group);
        if (added[index].length === 0) return undefined;
        if (!current?.erased) return { facts: added[index] };
        // Scrubbed before the write: once the send lists an event, its entry is readable.
        const { workspaceId, emailId } = current;
        const svixIds = group.map((event) => event.fact.svixId);
        added[index] = added[index].map((fact) => erasedFact(fact, anyAddressScrub));
        return { facts: added[index], beforeWrite: async () => void (await scrubTimeline(deps.repo, workspaceId, emailId, svixIds, anyAddressScrub)) };
      },
    })),
  );
  let changed = 0;
  results.forEach(({ send, changed: sendChanged }, index) => {
    if (!sendChanged) return;
    const fresh = new Set(added[index]!.map((fact) => fact.svixId));
    for (const event of groups[index]!) {
      if (fresh.delete(event.fact.svixId)) deps.notify({ send, event: send.erased ? erasedEntry(event.timeline, anyAddressScrub) : event.timeline });
    }
    changed += added[index]!.length;
  });
  return changed;
}

/** The facts of `events` the send has not folded yet (one per svix id); `folded`: those it retired. */
function newFacts(current: StoredSend | undefined, folded: ReadonlySet<string>, events: readonly IncomingEvent[]): EventFact[] {
  const seen = new Set([...(current?.facts.map((fact) => fact.svixId) ?? []), ...folded]);
  const facts: EventFact[] = [];
  for (const { fact } of events) {
    if (seen.has(fact.svixId)) continue;
    seen.add(fact.svixId);
    facts.push(fact);
  }
  return facts;
}
