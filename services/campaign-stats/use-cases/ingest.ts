/**
 * Applying Resend events and send registrations to campaign statistics,
 * exactly once per (workspace, svix id), whatever crashes in between.
 *
 * The story of a batch of messages (one message is a batch of one):
 * 1. one write per send records the messages' causes (svix id, or "record"),
 *    the send's new state, its new contribution and — if that changed — the
 *    delta as a `pending` entry (the send's outbox). A redelivery finds its
 *    cause applied and changes nothing. The sends go in one bulk write;
 * 2. the parts of every pending delta are applied to their campaign / hour /
 *    link documents, each guarded by the delta's reference in that document
 *    and by the send still holding the delta (read after the documents: an
 *    instance with a stale copy of the send never applies a delta another
 *    instance finished); one write per document for the whole batch, so a
 *    batch of a campaign's events writes its campaign document once (and
 *    the batches applying at the same time share that write: apply-rounds.ts);
 * 3. the deltas are removed from their sends (done); documents forget the
 *    references later (`isDone`, or the sweeper).
 * A crash anywhere leaves the messages unacked: their redelivery repeats 1
 * (no-op) and finishes 2–3, whose writes are idempotent. Steps 2–3 of one send
 * never run concurrently within an instance (the send's flow lock; a batch
 * holds the locks of all its sends).
 */
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
import type { DeltaRef, PartToApply, SendRecord, SendWrite, StatsRepository } from "../stats-repository.ts";

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

/** Bounded memory of finished delta refs (`ws:emailId#seq`); forgetting one only delays its pruning. */
export class DoneRefs {
  private readonly refs = new Set<string>();
  private readonly limit: number;
  constructor(limit = 100_000) {
    this.limit = limit;
  }
  add(ref: string): void {
    this.refs.add(ref);
    if (this.refs.size > this.limit) this.refs.delete(this.refs.values().next().value!);
  }
  has(ref: string): boolean {
    return this.refs.has(ref);
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
  await deps.flowLocks.runAll(bySend.keys(), async () => {
    const sends = await deps.repo.updateSends(
      [...bySend.values()].map((group) => ({
        workspaceId: group[0]!.workspaceId,
        emailId: group[0]!.emailId,
        causes: group.map((change) => change.cause),
        decide: (current: SendRecord | null) => sendWriteAfter(deps, current, group),
      })),
    );
    await deps.crashPoint("after-send-write");
    await flushPending(deps, sends.filter((send): send is SendRecord => send !== null && send.pending.length > 0));
  });
}

/** A send's fields after the changes whose cause it has not applied yet; null if it applied them all. */
function sendWriteAfter(deps: IngestDeps, current: SendRecord | null, changes: readonly SendChangeCause[]): SendWrite | null {
  const applied = [...(current?.applied ?? [])];
  let state = current?.state ?? emptySendState();
  for (const { cause, change } of changes) {
    if (applied.includes(cause)) continue;
    state = change(state);
    applied.push(cause);
  }
  if (applied.length === (current?.applied.length ?? 0)) return null;
  state = settleClicks(state, deps.rules); // keeps the state bounded; the contribution is the same
  const contrib = contributionOf(state, deps.rules);
  const delta = contributionDelta(current?.contrib ?? [], contrib);
  const pending = [...(current?.pending ?? [])];
  // The write makes the send's version v + 1, so this seq is unique to the delta.
  if (delta.length > 0) pending.push({ seq: (current?.v ?? 0) + 1, parts: delta });
  return { state, contrib, pending, applied };
}

/** Moves every pending delta of the sends into their documents, then drops the deltas. Caller holds the sends' flow locks. */
async function flushPending(deps: IngestDeps, sends: readonly SendRecord[]): Promise<void> {
  if (sends.length === 0) return;
  const parts: PartToApply[] = sends.flatMap((send) =>
    send.pending.flatMap((delta) => delta.parts.map((part) => ({ workspaceId: send.workspaceId, ref: deltaRef(send.emailId, delta.seq), part }))),
  );
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
  await deps.repo.updateSends(
    sends.map(({ workspaceId, emailId, pending }) => {
      const flushed = new Set(pending.map((delta) => delta.seq));
      return {
        workspaceId,
        emailId,
        decide: (current: SendRecord | null) =>
          current && current.pending.some((delta) => flushed.has(delta.seq))
            ? { state: current.state, contrib: current.contrib, applied: current.applied, pending: current.pending.filter((delta) => !flushed.has(delta.seq)) }
            : null,
      };
    }),
  );
  for (const { workspaceId, ref } of parts) deps.done.add(`${workspaceId}:${ref}`);
  await deps.crashPoint("after-pending-removed");
  for (const campaign of withOutbox) await publishOutbox(deps, campaign.workspaceId, campaign.campaignId, campaign.outbox);
  for (const day of daysWithOutbox) await publishDayOutbox(deps, day.workspaceId, day.day, day.outbox);
  const changed = new Map(parts.map(({ workspaceId, part }) => [`${workspaceId}\u0000${part.campaignId}`, [workspaceId, part.campaignId] as const]));
  for (const [workspaceId, campaignId] of changed.values()) deps.notifyChanged(workspaceId, campaignId);
}

/**
 * The refs (`ws:emailId#seq`) whose delta its send, read from the database now, still holds pending. A
 * delta no longer pending was applied everywhere by whoever dropped it, maybe another instance.
 */
async function stillPending(deps: IngestDeps, refs: readonly DeltaRef[]): Promise<Set<string>> {
  const sends = new Map<string, { workspaceId: string; emailId: string }>();
  for (const { workspaceId, ref } of refs) {
    const [emailId] = splitDeltaRef(ref);
    sends.set(`${workspaceId}:${emailId}`, { workspaceId, emailId });
  }
  const found = await deps.repo.getSendsNow([...sends.values()]);
  const pending = new Set<string>();
  for (const send of found) for (const delta of send?.pending ?? []) pending.add(`${send!.workspaceId}:${deltaRef(send!.emailId, delta.seq)}`);
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
