/**
 * One subscriber address of one workspace and the rules that change it. Pure:
 * every function takes the current state and returns the next one plus the
 * transition (if any) that must be announced. An event or an operator's
 * change only adds to the address's facts (address-facts.ts); the suppression
 * is derived from them, and a transition is the difference between the
 * suppression stored before and the one derived after — so each real change
 * is announced once, however the events arrive. The repository stores the
 * whole state in one document, so the facts, the change and its outbox entry
 * are written together in one atomic update.
 */
import { addFact, addLasting, deriveSuppression, emptyFacts, reconstructedFact, removeAll, type AddressFacts, type Fact } from "./address-facts.ts";
import { defaultSoftBouncePolicy, type SoftBouncePolicy } from "./soft-bounce-policy.ts";

/** Why an address is suppressed (the stored form of SuppressionReason). */
export type Reason = "bounced" | "complained" | "suppressed_by_resend" | "soft_bounce_policy" | "manual" | "unsubscribed" | "erased";
/** What caused a change (the stored form of SuppressionSource). */
export type Source = "event" | "resend" | "policy" | "manual";

/** The current suppression of an address. */
export interface SuppressionRecord {
  reason: Reason;
  source: Source;
  atMs: number;
  svixId: string;
  emailId: string;
  campaignId: string;
  actor: string;
  note: string;
  detail: string;
}

/** One state change, for the audit history (oldest first, at most `historyLimit`). */
export interface HistoryEntry {
  kind: "suppressed" | "unsuppressed";
  atMs: number;
  reason: Reason;
  source: Source;
  svixId: string;
  emailId: string;
  campaignId: string;
  actor: string;
  note: string;
}

export interface SubscriberState {
  workspaceId: string;
  /** Normalised address. */
  email: string;
  subscriberId: string;
  /** What `facts` implied at the last write: what queries read and what was last announced. */
  suppression: SuppressionRecord | null;
  facts: AddressFacts;
  /** Announced changes, oldest first, at most `historyLimit` (an audit: it records arrival, not event, order). */
  history: HistoryEntry[];
  /** Incremented on every stored change; also the optimistic-concurrency guard. */
  version: number;
  updatedAtMs: number;
}

/** A transition that must be published exactly once. */
export type Transition =
  | { kind: "suppressed"; record: SuppressionRecord }
  | { kind: "unsuppressed"; removed: SuppressionRecord; actor: string; note: string; atMs: number };

export interface Outcome {
  state: SubscriberState;
  /** False when nothing needs storing (a redelivery, a no-op). */
  changed: boolean;
  transition?: Transition;
}

export const historyLimit = 100;

/** A fresh address that has never been seen. */
export function newSubscriber(workspaceId: string, email: string, nowMs: number): SubscriberState {
  return { workspaceId, email, subscriberId: "", suppression: null, facts: emptyFacts(), history: [], version: 0, updatedAtMs: nowMs };
}

/** Where an event came from (its svix id, email and campaign). */
export interface EventOrigin {
  svixId: string;
  atMs: number;
  emailId: string;
  campaignId: string;
  subscriberId: string;
  /** Published by a reconciliation (issue 16): it stands in for the real event (address-facts.ts). */
  reconstructed?: boolean;
}

/** What a provider's event means for an address. */
export type AddressEvent =
  | ({ kind: "hard_bounce"; subType: string } & EventOrigin)
  | ({ kind: "soft_bounce"; subType: string; counts: boolean } & EventOrigin)
  | ({ kind: "complaint" } & EventOrigin)
  | ({ kind: "unsubscribed" } & EventOrigin)
  | ({ kind: "resend_suppressed"; detail: string } & EventOrigin)
  | ({ kind: "delivered" } & EventOrigin);

/** Who lifts a suppression, should the change lift one. */
interface Lifter {
  actor: string;
  note: string;
  source: Source;
  svixId: string;
  emailId: string;
  campaignId: string;
}

const keepLast = <T>(items: T[], limit: number) => (items.length > limit ? items.slice(items.length - limit) : items);

const sameRecord = (a: SuppressionRecord | null, b: SuppressionRecord | null) =>
  a === null || b === null ? a === b : (Object.keys(a) as (keyof SuppressionRecord)[]).every((key) => a[key] === b[key]);

/**
 * The common end of every rule: derive the suppression from the new facts, compare it with the
 * stored one, and record the transition between them (if any) in the history.
 */
function conclude(
  current: SubscriberState,
  next: { facts: AddressFacts; subscriberId: string },
  policy: SoftBouncePolicy,
  nowMs: number,
  lifter: Lifter,
): Outcome {
  const suppression = deriveSuppression(next.facts, policy);
  const before = current.suppression;
  const changed = next.facts !== current.facts || next.subscriberId !== current.subscriberId || !sameRecord(before, suppression);
  if (!changed) return { state: current, changed: false };
  let transition: Transition | undefined;
  let entry: HistoryEntry | undefined;
  if (!before && suppression) {
    transition = { kind: "suppressed", record: suppression };
    const { atMs, reason, source, svixId, emailId, campaignId, actor, note } = suppression;
    entry = { kind: "suppressed", atMs, reason, source, svixId, emailId, campaignId, actor, note };
  } else if (before && !suppression) {
    const { actor, note } = lifter;
    transition = { kind: "unsuppressed", removed: before, actor, note, atMs: nowMs };
    entry = { kind: "unsuppressed", atMs: nowMs, reason: before.reason, ...lifter };
  }
  const state: SubscriberState = {
    ...current,
    subscriberId: next.subscriberId,
    suppression,
    facts: next.facts,
    history: entry ? keepLast([...current.history, entry], historyLimit) : current.history,
    updatedAtMs: nowMs,
  };
  return transition ? { state, changed: true, transition } : { state, changed: true };
}

const eventRecord = (event: EventOrigin, reason: Reason, source: Source, detail: string): SuppressionRecord => ({
  reason,
  source,
  atMs: event.atMs,
  svixId: event.svixId,
  emailId: event.emailId,
  campaignId: event.campaignId,
  actor: "",
  note: "",
  detail,
});

function factOf(event: AddressEvent): Fact {
  switch (event.kind) {
    case "hard_bounce":
      return { kind: "lasting", record: eventRecord(event, "bounced", "event", event.subType) };
    case "complaint":
      return { kind: "lasting", record: eventRecord(event, "complained", "event", "") };
    // The recipient asked to get no more mail: lasting like a complaint, so no delivery ever lifts it.
    case "unsubscribed":
      return { kind: "lasting", record: eventRecord(event, "unsubscribed", "event", "") };
    case "resend_suppressed":
      return { kind: "lasting", record: eventRecord(event, "suppressed_by_resend", "resend", event.detail) };
    case "delivered":
      return { kind: "delivery", svixId: event.svixId, atMs: event.atMs };
    case "soft_bounce": {
      if (!event.counts) return { kind: "seen", svixId: event.svixId, atMs: event.atMs };
      const { svixId, atMs, subType, emailId, campaignId } = event;
      return { kind: "soft_bounce", bounce: { svixId, atMs, subType, emailId, campaignId } };
    }
  }
}

/**
 * Applies one Resend event. Idempotent by construction: the facts are a set.
 * Only a delivery can lift a suppression here, and only one the policy made:
 * the delivery, dated between the soft bounces, resets the streak they formed.
 */
export function applyEvent(current: SubscriberState, event: AddressEvent, policy: SoftBouncePolicy, nowMs: number): Outcome {
  const fact = event.reconstructed ? reconstructedFact(factOf(event)) : factOf(event);
  let facts = addFact(current.facts, fact, policy);
  // Whatever the stored facts say, a suppression the policy did not make is never lifted by an event.
  const stored = current.suppression;
  if (stored && stored.source !== "policy") facts = addLasting(facts, stored);
  const subscriberId = event.subscriberId || current.subscriberId;
  const note =
    event.kind === "delivered"
      ? "a delivery dated between the soft bounces reset the streak"
      : "the soft-bounce policy no longer holds for the recorded events";
  const { svixId, emailId, campaignId } = event;
  return conclude(current, { facts, subscriberId }, policy, nowMs, { actor: "policy", note, source: "policy", svixId, emailId, campaignId });
}


/** Records the subscriber id from a send record (the authoritative source). */
export function noteSubscriber(state: SubscriberState, subscriberId: string, nowMs: number): Outcome {
  if (state.version > 0 && (!subscriberId || subscriberId === state.subscriberId)) return { state, changed: false };
  return { state: { ...state, subscriberId: subscriberId || state.subscriberId, updatedAtMs: nowMs }, changed: true };
}

export interface ManualChange {
  actor: string;
  note: string;
  atMs: number;
}

const manualLifter = (change: ManualChange): Lifter => ({ actor: change.actor, note: change.note, source: "manual", svixId: "", emailId: "", campaignId: "" });

/**
 * AddSuppression: a lasting suppression dated now. An address already
 * suppressed keeps its (earlier) record; under a policy suppression the
 * operator's is still stored, so a delivery that later lifts the policy
 * leaves the address suppressed by the operator.
 */
export function addManually(
  state: SubscriberState,
  change: ManualChange & { reason: Reason; subscriberId: string },
  policy: SoftBouncePolicy = defaultSoftBouncePolicy,
): Outcome {
  const atMs = Math.max(change.atMs, state.facts.removedAtMs + 1);
  const record: SuppressionRecord = { reason: change.reason, source: "manual", atMs, svixId: "", emailId: "", campaignId: "", actor: change.actor, note: change.note, detail: "" };
  const facts = addLasting(state.facts, record);
  return conclude(state, { facts, subscriberId: change.subscriberId || state.subscriberId }, policy, change.atMs, manualLifter(change));
}

/**
 * RemoveSuppression: lifts the suppression and restarts the soft-bounce
 * streak. The removal is dated no earlier than anything known of the address,
 * so it lifts all of it; events dated before it never suppress again, later
 * ones do.
 */
export function removeManually(state: SubscriberState, change: ManualChange, policy: SoftBouncePolicy = defaultSoftBouncePolicy): Outcome {
  if (!state.suppression) return { state, changed: false };
  const { facts } = state;
  const atMs = Math.max(change.atMs, facts.newestMs, facts.removedAtMs, facts.lasting?.atMs ?? 0, state.suppression.atMs);
  return conclude(state, { facts: removeAll(facts, atMs), subscriberId: state.subscriberId }, policy, change.atMs, manualLifter(change));
}

/** The subscriber status implied by a reason. */
export function statusOf(reason: Reason | undefined): "active" | "bounced" | "complained" | "suppressed" {
  switch (reason) {
    case undefined:
      return "active";
    case "bounced":
    case "soft_bounce_policy":
      return "bounced";
    case "complained":
      return "complained";
    default: // suppressed_by_resend, manual, unsubscribed, erased
      return "suppressed";
  }
}
