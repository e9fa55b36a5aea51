/**
 * Applying Resend events and send registrations to campaign statistics,
 * exactly once per (workspace, svix id), whatever crashes in between.
 *
 * The story of one event:
 * 1. one write on the send document records the event's svix id, the send's
 *    new state, its new contribution and — if that changed — the delta as a
 *    `pending` entry (the send's outbox). A redelivery finds the svix id and
 *    changes nothing;
 * 2. each part of every pending delta is applied to its campaign / hour / link
 *    document, each write guarded by the delta's reference in that document;
 * 3. the delta is removed from the send (it is done); documents forget the
 *    reference later (`isDone`, or the sweeper).
 * A crash anywhere leaves the message unacked: its redelivery repeats 1 (no-op)
 * and finishes 2–3, whose writes are idempotent. Steps 2–3 of one send never
 * run concurrently within an instance (the send's flow lock).
 */
import { timestampMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { SendRecorded } from "../../../gen/ngsreach/events/v1/domain_events_pb.ts";
import type { ResendEvent } from "../../../gen/ngsreach/events/v1/resend_event_pb.ts";
import { attributionFromTags, isHardBounce } from "../../shared/resend-events.ts";
import type { AlertSettings, PendingAlert } from "../alerts.ts";
import { KeyedLock } from "../../shared/keyed-lock.ts";
import { isScannerUserAgent } from "../scanner.ts";
import {
  applyFact,
  applyRecord,
  contributionDelta,
  contributionOf,
  emptySendState,
  type ContributionRules,
  type SendFact,
  type SendState,
} from "../send-state.ts";
import type { SendRecord, StatsRepository } from "../stats-repository.ts";

/** What the ingest use cases need. */
export interface IngestDeps {
  repo: StatsRepository;
  rules: ContributionRules;
  alerts: AlertSettings;
  /** Publishes one alert on JetStream (with its message id); throws when not acknowledged. */
  publishAlert(workspaceId: string, campaignId: string, alert: PendingAlert): Promise<void>;
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

/** The statistics fact of a Resend event, or undefined for events statistics ignore. */
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

/** Applies one Resend event (idempotent by svix id). */
export async function applyResendEvent(deps: IngestDeps, event: ResendEvent): Promise<void> {
  const fact = factOf(event);
  if (!fact) return;
  const workspaceId = event.workspaceId;
  const emailId = event.email!.emailId;
  const tagCampaign = attributionFromTags(event.email!).campaignId;
  await changeSend(deps, workspaceId, emailId, `svix:${event.svixId}`, (state) => applyFact(state, fact, tagCampaign));
}

/** Applies a send registration (idempotent by email id: the first registration counts). */
export async function applySendRecorded(deps: IngestDeps, recorded: SendRecorded): Promise<void> {
  const sentAt = ms(recorded.sentTime) ?? ms(recorded.recordedTime) ?? deps.now();
  await changeSend(deps, recorded.workspaceId, recorded.emailId, "record", (state) =>
    applyRecord(state, recorded.campaignId, sentAt),
  );
}

async function changeSend(
  deps: IngestDeps,
  workspaceId: string,
  emailId: string,
  cause: string,
  change: (state: SendState) => SendState,
): Promise<void> {
  await deps.flowLocks.run(`${workspaceId}:${emailId}`, async () => {
    const send = await deps.repo.updateSend(workspaceId, emailId, (current) => {
      if (current?.applied.includes(cause)) return null;
      const state = change(current?.state ?? emptySendState());
      const contrib = contributionOf(state, deps.rules);
      const delta = contributionDelta(current?.contrib ?? [], contrib);
      const pending = [...(current?.pending ?? [])];
      if (delta.length > 0) pending.push({ seq: (current?.v ?? 0) + 1, parts: delta });
      return { state, contrib, pending, applied: [...(current?.applied ?? []), cause] };
    });
    await deps.crashPoint("after-send-write");
    if (send) await flushPending(deps, send);
  });
}

/** Moves every pending delta of a send into its documents, then marks it done. Caller holds the flow lock. */
async function flushPending(deps: IngestDeps, send: SendRecord): Promise<void> {
  const { workspaceId, emailId } = send;
  const isDone = (ref: string) => deps.done.has(`${workspaceId}:${ref}`);
  const touched = new Map<string, PendingAlert[]>();
  for (const delta of send.pending) {
    const ref = `${emailId}#${delta.seq}`;
    for (const part of delta.parts) {
      const applied = await deps.repo.applyPart(workspaceId, ref, part, isDone, deps.alerts, deps.now());
      if (part.kind === "campaign") touched.set(part.campaignId, applied.outbox);
      else if (!touched.has(part.campaignId)) touched.set(part.campaignId, []);
      await deps.crashPoint(`after-apply-${part.kind}`);
    }
    await deps.repo.updateSend(workspaceId, emailId, (current) =>
      current && current.pending.some((entry) => entry.seq === delta.seq)
        ? { state: current.state, contrib: current.contrib, applied: current.applied, pending: current.pending.filter((entry) => entry.seq !== delta.seq) }
        : null,
    );
    deps.done.add(`${workspaceId}:${ref}`);
    await deps.crashPoint("after-pending-removed");
  }
  for (const [campaignId, outbox] of touched) {
    if (outbox.length > 0) await publishOutbox(deps, workspaceId, campaignId, outbox);
    deps.notifyChanged(workspaceId, campaignId);
  }
}

/** Publishes alerts (message ids make a repeat harmless), then removes them from the outbox. */
export async function publishOutbox(deps: IngestDeps, workspaceId: string, campaignId: string, outbox: PendingAlert[]): Promise<void> {
  for (const alert of outbox) await deps.publishAlert(workspaceId, campaignId, alert);
  await deps.crashPoint("after-alert-published");
  await deps.repo.removeFromOutbox(workspaceId, campaignId, outbox);
}
