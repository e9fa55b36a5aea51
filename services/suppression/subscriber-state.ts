/**
 * One subscriber address of one workspace and the rules that change it. Pure:
 * every function takes the current state and returns the next one plus the
 * state transition (if any) that must be announced. The repository stores the
 * whole state in one document, so the applied svix id, the change and its
 * outbox entry are written together in one atomic update.
 */
import { streakCompletedBy, type SoftBouncePolicy } from "./soft-bounce-policy.ts";

/** Why an address is suppressed (the stored form of SuppressionReason). */
export type Reason = "bounced" | "complained" | "suppressed_by_resend" | "soft_bounce_policy" | "manual";
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

/** A soft bounce as recorded; only `counts` ones feed the policy. */
export interface SoftBounceRecord {
  svixId: string;
  atMs: number;
  subType: string;
  emailId: string;
  campaignId: string;
  counts: boolean;
}

export interface SubscriberState {
  workspaceId: string;
  /** Normalised address. */
  email: string;
  subscriberId: string;
  suppression: SuppressionRecord | null;
  softBounces: SoftBounceRecord[];
  /** Event times of deliveries (they reset the soft-bounce streak). */
  deliveries: number[];
  /** Soft bounces at or before this time never count (set by a manual removal). */
  streakFloorMs: number;
  /** Suppressing events at or before this time do not suppress again (the operator's later word). */
  removedAtMs: number;
  /** Svix ids already applied (bounded; newest last). */
  applied: string[];
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

export const appliedLimit = 200;
export const historyLimit = 100;
/** Soft bounces and deliveries kept per address: far more than any streak needs. */
export const timesLimit = 50;

/** A fresh address that has never been seen. */
export function newSubscriber(workspaceId: string, email: string, nowMs: number): SubscriberState {
  return {
    workspaceId,
    email,
    subscriberId: "",
    suppression: null,
    softBounces: [],
    deliveries: [],
    streakFloorMs: 0,
    removedAtMs: 0,
    applied: [],
    history: [],
    version: 0,
    updatedAtMs: nowMs,
  };
}

/** Where an event came from (its svix id, email and campaign). */
export interface EventOrigin {
  svixId: string;
  atMs: number;
  emailId: string;
  campaignId: string;
  subscriberId: string;
}

/** What a Resend event means for an address. */
export type AddressEvent =
  | ({ kind: "hard_bounce"; subType: string } & EventOrigin)
  | ({ kind: "soft_bounce"; subType: string; counts: boolean } & EventOrigin)
  | ({ kind: "complaint" } & EventOrigin)
  | ({ kind: "resend_suppressed"; detail: string } & EventOrigin)
  | ({ kind: "delivered" } & EventOrigin);

const keepLast = <T>(items: T[], limit: number) => (items.length > limit ? items.slice(items.length - limit) : items);

function withSubscriberId(state: SubscriberState, subscriberId: string): SubscriberState {
  return subscriberId && subscriberId !== state.subscriberId ? { ...state, subscriberId } : state;
}

function suppress(state: SubscriberState, record: SuppressionRecord, nowMs: number): Outcome {
  const entry: HistoryEntry = {
    kind: "suppressed",
    atMs: record.atMs,
    reason: record.reason,
    source: record.source,
    svixId: record.svixId,
    emailId: record.emailId,
    campaignId: record.campaignId,
    actor: record.actor,
    note: record.note,
  };
  return {
    state: { ...state, suppression: record, history: keepLast([...state.history, entry], historyLimit), updatedAtMs: nowMs },
    changed: true,
    transition: { kind: "suppressed", record },
  };
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

/**
 * Applies one Resend event. Each svix id is applied at most once (deliveries
 * are idempotent by nature and not recorded, to keep the applied list for the
 * events that matter). An address already suppressed stays as it is: the
 * first suppression is the one that was announced.
 */
export function applyEvent(current: SubscriberState, event: AddressEvent, policy: SoftBouncePolicy, nowMs: number): Outcome {
  if (event.kind === "delivered") {
    const base = withSubscriberId(current, event.subscriberId);
    if (current.deliveries.includes(event.atMs)) {
      return base === current && current.version > 0 ? { state: current, changed: false } : { state: { ...base, updatedAtMs: nowMs }, changed: true };
    }
    const deliveries = keepLast([...current.deliveries, event.atMs].sort((a, b) => a - b), timesLimit);
    return { state: { ...base, deliveries, updatedAtMs: nowMs }, changed: true };
  }
  if (current.applied.includes(event.svixId)) return { state: current, changed: false };
  let state: SubscriberState = {
    ...withSubscriberId(current, event.subscriberId),
    applied: keepLast([...current.applied, event.svixId], appliedLimit),
    updatedAtMs: nowMs,
  };
  // An operator's removal is the later word on everything that happened before it.
  const stale = event.atMs <= state.removedAtMs;

  switch (event.kind) {
    case "hard_bounce":
      if (state.suppression || stale) return { state, changed: true };
      return suppress(state, eventRecord(event, "bounced", "event", event.subType), nowMs);
    case "complaint":
      if (state.suppression || stale) return { state, changed: true };
      return suppress(state, eventRecord(event, "complained", "event", ""), nowMs);
    case "resend_suppressed":
      if (state.suppression || stale) return { state, changed: true };
      return suppress(state, eventRecord(event, "suppressed_by_resend", "resend", event.detail), nowMs);
    case "soft_bounce": {
      const record: SoftBounceRecord = {
        svixId: event.svixId,
        atMs: event.atMs,
        subType: event.subType,
        emailId: event.emailId,
        campaignId: event.campaignId,
        counts: event.counts,
      };
      const softBounces = keepLast([...state.softBounces, record].sort((a, b) => a.atMs - b.atMs), timesLimit);
      state = { ...state, softBounces };
      if (state.suppression || !event.counts) return { state, changed: true };
      const cause = streakCompletedBy(streakInput(state), policy);
      if (!cause) return { state, changed: true };
      const bounce = softBounces.find((b) => b.svixId === cause.svixId) ?? record;
      return suppress(state, eventRecord({ ...bounce, subscriberId: "" }, "soft_bounce_policy", "policy", bounce.subType), nowMs);
    }
  }
}

/** The policy's view of an address. */
export function streakInput(state: SubscriberState) {
  return {
    bounces: state.softBounces.filter((bounce) => bounce.counts),
    deliveries: state.deliveries,
    floorMs: state.streakFloorMs,
  };
}

/** Records the subscriber id from a send record (the authoritative source). */
export function noteSubscriber(state: SubscriberState, subscriberId: string, nowMs: number): Outcome {
  const next = withSubscriberId(state, subscriberId);
  return next === state && state.version > 0 ? { state, changed: false } : { state: { ...next, updatedAtMs: nowMs }, changed: true };
}

export interface ManualChange {
  actor: string;
  note: string;
  atMs: number;
}

/** AddSuppression: suppresses unless already suppressed (then nothing changes). */
export function addManually(
  state: SubscriberState,
  change: ManualChange & { reason: Reason; subscriberId: string },
): Outcome {
  if (state.suppression) return { state, changed: false };
  const record: SuppressionRecord = {
    reason: change.reason,
    source: "manual",
    atMs: change.atMs,
    svixId: "",
    emailId: "",
    campaignId: "",
    actor: change.actor,
    note: change.note,
    detail: "",
  };
  return suppress(withSubscriberId(state, change.subscriberId), record, change.atMs);
}

/**
 * RemoveSuppression: lifts the suppression and resets the soft-bounce streak.
 * Events that happened before the removal do not suppress again; later ones do.
 */
export function removeManually(state: SubscriberState, change: ManualChange): Outcome {
  const removed = state.suppression;
  if (!removed) return { state, changed: false };
  const entry: HistoryEntry = {
    kind: "unsuppressed",
    atMs: change.atMs,
    reason: removed.reason,
    source: "manual",
    svixId: "",
    emailId: "",
    campaignId: "",
    actor: change.actor,
    note: change.note,
  };
  return {
    state: {
      ...state,
      suppression: null,
      streakFloorMs: Math.max(state.streakFloorMs, change.atMs),
      removedAtMs: Math.max(state.removedAtMs, change.atMs),
      history: keepLast([...state.history, entry], historyLimit),
      updatedAtMs: change.atMs,
    },
    changed: true,
    transition: { kind: "unsuppressed", removed, actor: change.actor, note: change.note, atMs: change.atMs },
  };
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
    default:
      return "suppressed";
  }
}
