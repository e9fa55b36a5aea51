/**
 * Applying Resend events and send registrations to campaign statistics,
 * exactly once per (workspace, svix id), whatever crashes in between.
 *
 * The story of a batch of messages (one message is a batch of one), which is one round:
 * 1. one write per send records the messages' causes (svix id, or "record"),
 *    the send's new state, its new contribution and — if that changed — the
 *    delta as a `pending` entry naming the round (the send's outbox). A
 *    redelivery finds its cause applied and changes nothing. The sends go in
 *    one bulk write. The same write drops the send's deltas a done round
 *    confirms, and adds the round to those none does (a crash left them);
 * 2. the parts of the round's deltas are applied to their campaign / hour /
 *    link / day documents, each guarded by the delta's reference in that
 *    document and by the send still holding the delta unconfirmed (read after
 *    the documents: an instance with a stale copy of the send never applies a
 *    delta another instance finished); one write per document for the whole
 *    batch, so a batch of a campaign's events writes its campaign document
 *    once (and the batches applying at the same time share that write:
 *    apply-rounds.ts);
 * 3. the round is marked done (one small document for the whole batch,
 *    instead of a second write of every send): its deltas are confirmed,
 *    and the send's next write drops them. Documents forget the references
 *    later (`isDone`, or the sweeper); marks no send lists any more go with
 *    retention (stats-retention.ts).
 * A crash anywhere leaves the messages unacked: their redelivery repeats 1
 * (adding its round to the unconfirmed deltas) and finishes 2–3, whose writes
 * are idempotent. Steps 2–3 of one send never run concurrently within an
 * instance (the send's flow lock; a batch holds the locks of all its sends).
 */
import { randomBytes } from "node:crypto";
import { timestampMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { SendRecorded } from "../../../gen/ngsreach/events/v1/domain_events_pb.ts";
import type { ResendEvent } from "../../../gen/ngsreach/events/v1/resend_event_pb.ts";
import { isReconstructed } from "../../shared/reconstructed-events.ts";
import { attributionFromTags, isHardBounce } from "../../shared/resend-events.ts";
import type { AlertSettings, PendingAlert } from "../alerts.ts";
import { KeyedLock } from "../../shared/keyed-lock.ts";
import { isScannerUserAgent } from "../scanner.ts";
import {
  applyFact,
  applyReconstructedFact,
  applyRecord,
  contributionDelta,
  contributionOf,
  emptySendState,
  settleClicks,
  type ContributionRules,
  type SendFact,
  type SendState,
  withEventProvider,
} from "../send-state.ts";
import type { BulkSenderLimits, PendingLimitAlert } from "../deliverability/bulk-sender-limits.ts";
import { mailboxProviderOf, type OverrideIndex } from "../deliverability/mailbox-provider.ts";
import type { DeltaRef, PartToApply, PendingDelta, SendRecord, SendWrite, StatsRepository } from "../stats-repository.ts";

/** What the ingest use cases need. */
export interface IngestDeps {
  repo: StatsRepository;
  rules: ContributionRules;
  alerts: AlertSettings;
  /** Publishes one alert on JetStream (with its message id); throws when not acknowledged. */
  publishAlert(workspaceId: string, campaignId: string, alert: PendingAlert): Promise<void>;
  /** The bulk-sender limits of workspace-days (deliverability/bulk-sender-limits.ts). */
  limits: BulkSenderLimits;
  /** Publishes one bulk-sender crossing on JetStream (with its message id); throws when not acknowledged. */
  publishLimitAlert(workspaceId: string, alert: PendingLimitAlert): Promise<void>;
  /** A workspace's mailbox-provider overrides (deliverability/provider-overrides.ts); none when absent. */
  overrides?: { indexOf(workspaceId: string): Promise<OverrideIndex> };
  /** Tells watchers a campaign changed (best effort). */
  notifyChanged(workspaceId: string, campaignId: string): void;
  /** Test hook called between two writes; throwing simulates a crash at that point. */
  crashPoint(label: string): Promise<void> | void;
  /** Deltas known done in this process, so documents can drop their refs. */
  done: DoneRefs;
  flowLocks: KeyedLock;
  now(): number;
}

/**
 * Bounded memory of finished delta refs (`ws:emailId#seq`) and of rounds known done; forgetting one only
 * delays a prune or costs a read. A round id is never reused, so a done round stays done.
 */
export class DoneRefs {
  private readonly refs: BoundedSet;
  private readonly rounds: BoundedSet;
  constructor(limit = 100_000) {
    this.refs = new BoundedSet(limit);
    this.rounds = new BoundedSet(limit);
  }
  add(ref: string): void {
    this.refs.add(ref);
  }
  has(ref: string): boolean {
    return this.refs.has(ref);
  }
  addRound(round: string): void {
    this.rounds.add(round);
  }
  hasRound(round: string): boolean {
    return this.rounds.has(round);
  }
}

/** A set that forgets its oldest item past `limit`. */
class BoundedSet {
  private readonly items = new Set<string>();
  private readonly limit: number;
  constructor(limit: number) {
    this.limit = limit;
  }
  add(item: string): void {
    this.items.add(item);
    if (this.items.size > this.limit) this.items.delete(this.items.values().next().value!);
  }
  has(item: string): boolean {
    return this.items.has(item);
  }
}

const ms = (timestamp: Timestamp | undefined) => (timestamp ? timestampMs(timestamp) : undefined);

/**
 * The statistics fact of an event on the stream, or undefined for events statistics ignore. Every
 * provider's event comes in the same envelope and counts by the same rules: only its type and fields are
 * read, never its provider (whose ids, "sendgrid:...", already keep its sends and events apart).
 */
export function factOf(event: ResendEvent): SendFact | undefined {
  const email = event.email;
  if (!email || !email.emailId) return undefined;
  const t = ms(event.eventTime) ?? ms(email.createdAt) ?? ms(event.receivedTime) ?? 0;
  switch (event.type) {
    case "email.sent":
      return { kind: "sent", t };
    case "email.delivered":
      return { kind: "delivered", t };
    case "email.delivery_delayed":
      return { kind: "delayed", t };
    case "email.bounced": {
      const bounce = email.detail.case === "bounce" ? email.detail.value : undefined;
      return { kind: bounce && isHardBounce(bounce) ? "hardBounced" : "softBounced", t };
    }
    case "email.complained":
      return { kind: "complained", t };
    case "email.failed":
      return { kind: "failed", t };
    case "email.suppressed":
      return { kind: "suppressed", t };
    case "email.unsubscribed":
      return { kind: "unsubscribed", t };
    case "email.opened":
      return { kind: "opened", t };
    case "email.clicked": {
      const click = email.detail.case === "click" ? email.detail.value : undefined;
      return {
        kind: "clicked",
        t: ms(click?.timestamp) ?? t,
        link: click?.link ?? "",
        uaScanner: isScannerUserAgent(click?.userAgent ?? ""),
      };
    }
    default:
      return undefined;
  }
}

/**
 * The mailbox provider of each recipient, with the overrides of its workspace (only the provider is kept,
 * never the address). One read of each workspace's overrides per batch, from their cache.
 */
async function providerLookup(deps: IngestDeps, workspaceIds: readonly string[]) {
  const indexes = new Map<string, OverrideIndex>();
  for (const workspaceId of new Set(workspaceIds)) indexes.set(workspaceId, (await deps.overrides?.indexOf(workspaceId)) ?? new Map());
  return (workspaceId: string, recipient: string | undefined) => (recipient ? mailboxProviderOf(recipient, indexes.get(workspaceId)) : undefined);
}

/** One message's change of one send; `cause` makes it idempotent (`svix:<id>` or `record`). */
interface SendChangeCause {
  workspaceId: string;
  emailId: string;
  cause: string;
  change(state: SendState): SendState;
}

/**
 * Applies Resend events (idempotent by svix id). A reconstructed event (issue 16) is classified like a
 * webhook — the same kinds, a bounce hard or soft by its detail — but kept as a stand-in (see send-state.ts);
 * its svix id, "reconciliation:<email id>:<type>", is a cause of its own like any other.
 */
export async function applyResendEvents(deps: IngestDeps, events: readonly ResendEvent[]): Promise<void> {
  const changes: SendChangeCause[] = [];
  const recipientProvider = await providerLookup(deps, events.map((event) => event.workspaceId));
  for (const event of events) {
    const fact = factOf(event);
    if (!fact) continue;
    const tagCampaign = attributionFromTags(event.email!).campaignId;
    const reconstructed = isReconstructed(event);
    changes.push({
      workspaceId: event.workspaceId,
      emailId: event.email!.emailId,
      cause: `svix:${event.svixId}`,
      change: (state) =>
        withEventProvider(reconstructed ? applyReconstructedFact(state, fact, tagCampaign) : applyFact(state, fact, tagCampaign), recipientProvider(event.workspaceId, event.email!.to[0])),
    });
  }
  await changeSends(deps, changes);
}

/** Applies send registrations (idempotent by email id: the first registration counts). */
export async function applySendsRecorded(deps: IngestDeps, registrations: readonly SendRecorded[]): Promise<void> {
  const recipientProvider = await providerLookup(deps, registrations.map((recorded) => recorded.workspaceId));
  await changeSends(
    deps,
    registrations.map((recorded) => {
      const sentAt = ms(recorded.sentTime) ?? ms(recorded.recordedTime) ?? deps.now();
      return {
        workspaceId: recorded.workspaceId,
        emailId: recorded.emailId,
        cause: "record",
        change: (state: SendState) => applyRecord(state, recorded.campaignId, sentAt, recipientProvider(recorded.workspaceId, recorded.recipient)),
      };
    }),
  );
}

async function changeSends(deps: IngestDeps, changes: readonly SendChangeCause[]): Promise<void> {
  if (changes.length === 0) return;
  const bySend = new Map<string, SendChangeCause[]>();
  for (const change of changes) {
    const key = `${change.workspaceId}:${change.emailId}`;
    bySend.set(key, [...(bySend.get(key) ?? []), change]);
  }
  const round = newRoundId();
  await deps.flowLocks.runAll(bySend.keys(), async () => {
    const sends = await deps.repo.updateSends(
      [...bySend.values()].map((group) => ({
        workspaceId: group[0]!.workspaceId,
        emailId: group[0]!.emailId,
        causes: group.map((change) => change.cause),
        decide: async (current: SendRecord | null) => sendWriteAfter(deps, current, group, round, await unconfirmedOf(deps, current)),
      })),
    );
    await deps.crashPoint("after-send-write");
    await applyRound(deps, round, sends.filter((send): send is SendRecord => send !== null));
  });
}

/** A round's id: unique, never reused (a done round stays done). */
const newRoundId = () => randomBytes(12).toString("base64url");

/** The send's listed deltas no done round confirms. */
async function unconfirmedOf(deps: IngestDeps, send: SendRecord | null): Promise<PendingDelta[]> {
  if (!send || send.pending.length === 0) return [];
  return (await deps.repo.unconfirmedDeltas([send.pending], (round) => deps.done.hasRound(round)))[0]!;
}

/**
 * A send's fields after the changes whose cause it has not applied yet; null if it applied them all and
 * lists no unconfirmed delta. Confirmed deltas are dropped; the unconfirmed ones and the new one name
 * `round`, which applies them.
 */
function sendWriteAfter(deps: IngestDeps, current: SendRecord | null, changes: readonly SendChangeCause[], round: string, unconfirmed: readonly PendingDelta[]): SendWrite | null {
  const applied = [...(current?.applied ?? [])];
  let state = current?.state ?? emptySendState();
  for (const { cause, change } of changes) {
    if (applied.includes(cause)) continue;
    state = change(state);
    applied.push(cause);
  }
  const pending = unconfirmed.map((delta) => ({ ...delta, rounds: [...(delta.rounds ?? []), round] }));
  if (applied.length === (current?.applied.length ?? 0)) {
    return current && pending.length > 0 ? { state: current.state, contrib: current.contrib, applied: current.applied, pending } : null;
  }
  state = settleClicks(state, deps.rules); // keeps the state bounded; the contribution is the same
  const contrib = contributionOf(state, deps.rules);
  const delta = contributionDelta(current?.contrib ?? [], contrib);
  // The write makes the send's version v + 1, so this seq is unique to the delta.
  if (delta.length > 0) pending.push({ seq: (current?.v ?? 0) + 1, parts: delta, rounds: [round] });
  return { state, contrib, pending, applied };
}

/**
 * Moves the deltas that name `round` into their documents, then marks the round done. Caller holds the
 * sends' flow locks.
 */
async function applyRound(deps: IngestDeps, round: string, sends: readonly SendRecord[]): Promise<void> {
  const parts: PartToApply[] = sends.flatMap((send) =>
    send.pending
      .filter((delta) => delta.rounds?.includes(round))
      .flatMap((delta) => delta.parts.map((part) => ({ workspaceId: send.workspaceId, ref: deltaRef(send.emailId, delta.seq), part }))),
  );
  if (parts.length === 0) return;
  const touched = await deps.repo.applyParts(parts, {
    isDone: (workspaceId, ref) => deps.done.has(`${workspaceId}:${ref}`),
    stillPending: (refs) => stillPending(deps, refs),
    alertSettings: deps.alerts,
    limits: deps.limits,
    now: deps.now(),
    afterWrite: (kind) => deps.crashPoint(`after-apply-${kind}`),
  });
  const withOutbox = touched.campaigns.filter((campaign) => campaign.outbox.length > 0);
  const daysWithOutbox = touched.days.filter((day) => day.outbox.length > 0);
  await deps.repo.markRoundDone(round, deps.now());
  deps.done.addRound(round);
  for (const { workspaceId, ref } of parts) deps.done.add(`${workspaceId}:${ref}`);
  await deps.crashPoint("after-round-done");
  for (const campaign of withOutbox) await publishOutbox(deps, campaign.workspaceId, campaign.campaignId, campaign.outbox);
  for (const day of daysWithOutbox) await publishDayOutbox(deps, day.workspaceId, day.day, day.outbox);
  const changed = new Map(parts.map(({ workspaceId, part }) => [`${workspaceId}\u0000${part.campaignId}`, [workspaceId, part.campaignId] as const]));
  for (const [workspaceId, campaignId] of changed.values()) deps.notifyChanged(workspaceId, campaignId);
}

/**
 * The refs (`ws:emailId#seq`) whose delta its send, read from the database now, lists with no done round.
 * A delta not listed, or confirmed, was applied everywhere by a round that finished, maybe another instance's.
 */
export async function stillPending(deps: Pick<IngestDeps, "repo" | "done">, refs: readonly DeltaRef[]): Promise<Set<string>> {
  const sends = new Map<string, { workspaceId: string; emailId: string }>();
  for (const { workspaceId, ref } of refs) {
    const [emailId] = splitDeltaRef(ref);
    sends.set(`${workspaceId}:${emailId}`, { workspaceId, emailId });
  }
  const found = (await deps.repo.getSendsNow([...sends.values()])).filter((send): send is SendRecord => send !== null);
  const unconfirmed = await deps.repo.unconfirmedDeltas(found.map((send) => send.pending), (round) => deps.done.hasRound(round));
  const pending = new Set<string>();
  found.forEach((send, index) => {
    for (const delta of unconfirmed[index]!) pending.add(`${send.workspaceId}:${deltaRef(send.emailId, delta.seq)}`);
  });
  return pending;
}

/** The reference of a send's delta, as campaign, hour and link documents keep it in `recent`. */
export const deltaRef = (emailId: string, seq: number) => `${emailId}#${seq}`;

/** The email id and seq of a delta reference (email ids may hold "#": the seq is after the last one). */
export function splitDeltaRef(ref: string): [emailId: string, seq: number] {
  const at = ref.lastIndexOf("#");
  return [ref.slice(0, at), Number(ref.slice(at + 1))];
}

/** Publishes a workspace-day's bulk-sender crossings (message ids make a repeat harmless), then removes them from its outbox. */
export async function publishDayOutbox(deps: IngestDeps, workspaceId: string, day: number, outbox: readonly PendingLimitAlert[]): Promise<void> {
  for (const alert of outbox) await deps.publishLimitAlert(workspaceId, alert);
  await deps.crashPoint("after-limit-alert-published");
  await deps.repo.removeFromDayOutbox(workspaceId, day, outbox);
}

/** Publishes alerts (message ids make a repeat harmless), then removes them from the outbox. */
export async function publishOutbox(deps: IngestDeps, workspaceId: string, campaignId: string, outbox: PendingAlert[]): Promise<void> {
  for (const alert of outbox) await deps.publishAlert(workspaceId, campaignId, alert);
  await deps.crashPoint("after-alert-published");
  await deps.repo.removeFromOutbox(workspaceId, campaignId, outbox);
}
