/**
 * Applying one Resend event to its send: keep the timeline entry, add the
 * fact once per svix id, recompute the state, tell live watchers.
 */
import type { EventFact } from "../send-projection.ts";
import type { SendsRepository, StoredSend, TimelineEntry } from "../sends-repository.ts";
import { changeSend } from "./change-send.ts";

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
  // Timeline first: if we crash before the send write, the redelivery finds the entry already there.
  await deps.repo.putTimelineEntry(event.timeline);
  const { send, changed } = await changeSend(deps.repo, deps.now, event.workspaceId, event.emailId, (current) =>
    current?.facts.some((fact) => fact.svixId === event.fact.svixId) ? undefined : { fact: event.fact },
  );
  if (changed) deps.notify({ send, event: event.timeline });
  return changed;
}
