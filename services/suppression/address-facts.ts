/**
 * What the service remembers of one address, and the pure fold that derives
 * its suppression from it (DESIGN.md "Several instances": state is a fold of
 * the set of events by event time). The facts form a set — soft bounces keyed
 * by svix id, deliveries by time, kept sorted — so adding the same events in
 * any order, any number of times, gives the same facts and the same result.
 *
 * The walk the fold stands for, in event time: a hard bounce, complaint,
 * unsubscribe, email.suppressed or manual add suppresses; `limit` counted soft bounces in
 * one window with no delivery between them suppress (cause: the bounce that
 * completes the streak); a suppressed address stays suppressed; a manual
 * removal lifts everything before it and restarts the streak. So the result
 * is the earlier of two candidates dated after the last removal: the earliest
 * lasting suppression and the earliest streak completion (ties: event time,
 * then svix id, then the other fields).
 *
 * Bounded and still exact: a soft bounce or delivery more than
 * `replayHorizonMs` older than the newest event of the address is ignored. The
 * walk before `settledMs` (= newest − horizon) can therefore no longer change;
 * a streak completed there is settled into `lasting`, and only facts a streak
 * after `settledMs` can reach (one window before it) are kept. A replay of an
 * event older than that changes nothing by construction.
 *
 * Reconstructed events (issue 16: a reconciliation read Resend's `last_event`) stand in for the real
 * fact of their kind on the same email only while none is known; the facts still form a set:
 * - a reconstructed hard bounce, complaint or email.suppressed is a stand-in: it suppresses like the
 *   real one, but once a real suppression of the same reason and email is known (`realLastingKeys`,
 *   before or after it) it decides nothing, so the record names the real event's time and detail;
 * - a reconstructed soft bounce counts for its email only while no real counted soft bounce of that
 *   email is kept: never two counted bounces for one email from a stand-in and the real bounce;
 * - a reconstructed delivery is kept like a real one, also once the real one is known (deliveries are
 *   kept by time alone). Its time, the send time, is a lower bound of the real delivery's: for a soft
 *   bounce after the real delivery it cuts off only the bounces up to the send, a subset of those the
 *   real one cuts off, so it resets a subset of the streaks the real one resets and never breaks one
 *   the real one lets complete. The exception is a soft bounce dated between the send and the real
 *   delivery (while this email was in flight): there the stand-in cuts a streak the real one would not.
 */
import { compareBounces, compareText, streakCompletedBy, type SoftBouncePolicy, type StreakInput } from "./soft-bounce-policy.ts";
import type { SuppressionRecord } from "./subscriber-state.ts";

/** A counted soft bounce (message-level subtypes say nothing about the address and are not kept). */
export interface SoftBounceFact {
  svixId: string;
  atMs: number;
  subType: string;
  emailId: string;
  campaignId: string;
  /** A reconciliation's stand-in for this email's real soft bounce (see the file comment). */
  reconstructed?: true;
}

export interface AddressFacts {
  /**
   * The earliest suppression dated after `removedAtMs` that only an operator lifts: hard bounce,
   * complaint, unsubscribe, email.suppressed, manual add, or a policy suppression settled beyond the horizon.
   */
  lasting: SuppressionRecord | null;
  /** The latest manual removal (0: never). Nothing dated at or before it counts any more. */
  removedAtMs: number;
  /** Ascending by (event time, svix id); dated after `removedAtMs` and at or after `settledMs` − window. */
  softBounces: SoftBounceFact[];
  /** Distinct delivery event times, ascending, within the same bounds. */
  deliveries: number[];
  /** The newest event time seen for the address. */
  newestMs: number;
  /** The walk before this time is final (see the file comment). */
  settledMs: number;
  /**
   * Svix ids applied by the code before this fold (its bounded `applied` list), not applied again;
   * dropped once `settledMs` passes `untilMs`, the newest event time they can carry.
   */
  legacyApplied?: { svixIds: string[]; untilMs: number };
  /**
   * Reconstructed lasting suppressions dated after `removedAtMs`, in `compareRecords` order; those whose
   * key is in `realLastingKeys` are kept (so a copy of one is still known as a stand-in) but decide nothing.
   */
  standIns?: SuppressionRecord[];
  /** `lastingKey` of every real event suppression dated after `removedAtMs`, sorted: what supersedes a stand-in. */
  realLastingKeys?: string[];
}

/** What an event adds: a lasting suppression, a counted soft bounce, a delivery, or only its time. */
export type Fact =
  | { kind: "lasting"; record: SuppressionRecord; reconstructed?: true }
  | { kind: "soft_bounce"; bounce: SoftBounceFact }
  | { kind: "delivery"; svixId: string; atMs: number }
  | { kind: "seen"; svixId: string; atMs: number };

/**
 * Hard caps per list, against a sender looping on one address rather than for real ones: three counted
 * bounces in a window already suppress (and senders stop mailing suppressed addresses), and 10,000
 * deliveries is ~145 a day for all of the ~69 days kept by default. They bound a document to a few
 * hundred KB — far under MongoDB's 16 MB, and cheap to rewrite on every event. Past a cap the oldest facts
 * are settled like facts beyond the horizon (never a streak invented from a missing delivery): exact from
 * there on, with the horizon of that address moved up by at most one window meanwhile.
 */
export const softBounceCap = 1000;
export const deliveryCap = 10_000;
/**
 * A stand-in or real key arrives per suppressing email, and senders stop mailing a suppressed address.
 * Past the cap the latest stand-ins (which decide least) and the first keys in sort order go: a stand-in
 * may then outlive its real event, still a suppression of the same reason on the same address.
 */
export const lastingKeyCap = 1000;

export const emptyFacts = (): AddressFacts => ({
  lasting: null,
  removedAtMs: 0,
  softBounces: [],
  deliveries: [],
  newestMs: 0,
  settledMs: 0,
});

/** A total order on records (equal only when every field is), so "earliest" is the same for every arrival order. */
export function compareRecords(a: SuppressionRecord, b: SuppressionRecord): number {
  return (
    a.atMs - b.atMs ||
    compareText(a.svixId, b.svixId) ||
    compareText(a.reason, b.reason) ||
    compareText(a.source, b.source) ||
    compareText(a.emailId, b.emailId) ||
    compareText(a.campaignId, b.campaignId) ||
    compareText(a.detail, b.detail) ||
    compareText(a.actor, b.actor) ||
    compareText(a.note, b.note)
  );
}

const earliest = (a: SuppressionRecord | null, b: SuppressionRecord | null) =>
  a === null ? b : b === null ? a : compareRecords(a, b) <= 0 ? a : b;

/** The suppression a completed streak stands for. */
function policyRecord(cause: SoftBounceFact): SuppressionRecord {
  const { atMs, svixId, emailId, campaignId, subType } = cause;
  return { reason: "soft_bounce_policy", source: "policy", atMs, svixId, emailId, campaignId, actor: "", note: "", detail: subType };
}

/** The policy's view of the facts. */
export function streakOf(facts: AddressFacts): StreakInput<SoftBounceFact> {
  return { bounces: facts.softBounces, deliveries: facts.deliveries, floorMs: facts.removedAtMs, fromMs: facts.settledMs };
}

/** What a real suppression and the stand-in it supersedes share: reason and email. */
const lastingKey = (record: SuppressionRecord) => `${record.reason}:${record.emailId}`;

/** The earliest stand-in no real suppression supersedes (null: none). */
function standingIn(facts: AddressFacts): SuppressionRecord | null {
  const real = new Set(facts.realLastingKeys);
  return facts.standIns?.find((standIn) => !real.has(lastingKey(standIn))) ?? null;
}

/** The suppression the facts imply (null: active). */
export function deriveSuppression(facts: AddressFacts, policy: SoftBouncePolicy): SuppressionRecord | null {
  const cause = streakCompletedBy(streakOf(facts), policy);
  return earliest(earliest(facts.lasting, standingIn(facts)), cause ? policyRecord(cause) : null);
}

/** Soft bounces and deliveries dated before this are ignored. */
export const horizonOf = (facts: AddressFacts, policy: SoftBouncePolicy) =>
  Math.max(facts.settledMs, facts.newestMs - policy.replayHorizonMs);

/** Copies of one svix id differ at most in what was known when each applied: keep what any of them knew. */
function fillBlanks<T extends { emailId: string; campaignId: string }>(kept: T, copy: T): T {
  const emailId = kept.emailId || copy.emailId;
  const campaignId = kept.campaignId || copy.campaignId;
  return emailId === kept.emailId && campaignId === kept.campaignId ? kept : { ...kept, emailId, campaignId };
}

/** Notes a real event suppression's key (an operator's or the policy's supersedes no stand-in). */
function addRealKey(facts: AddressFacts, record: SuppressionRecord): AddressFacts {
  if (record.emailId === "" || (record.source !== "event" && record.source !== "resend")) return facts;
  const key = lastingKey(record);
  if (facts.realLastingKeys?.includes(key)) return facts;
  const keys = [...(facts.realLastingKeys ?? []), key].sort(compareText);
  return { ...facts, realLastingKeys: keys.length > lastingKeyCap ? keys.slice(keys.length - lastingKeyCap) : keys };
}

/** Adds a reconciliation's stand-in for a lasting suppression; `facts` itself when nothing changes. */
function addStandIn(facts: AddressFacts, record: SuppressionRecord): AddressFacts {
  const standIns = facts.standIns ?? [];
  const index = standIns.findIndex((kept) => kept.svixId === record.svixId);
  if (index >= 0) {
    const merged = fillBlanks(standIns[index]!, record);
    return merged === standIns[index] ? facts : { ...facts, standIns: standIns.with(index, merged) };
  }
  const next = [...standIns, record].sort(compareRecords).slice(0, lastingKeyCap);
  return next.includes(record) ? { ...facts, standIns: next } : facts;
}

/**
 * Adds a lasting suppression (an event's, or an operator's); returns `facts` itself when nothing changes.
 * A stand-in's svix id names the stand-in (applyEvent adds the stored suppression again, which may be one).
 */
export function addLasting(facts: AddressFacts, record: SuppressionRecord): AddressFacts {
  if (record.svixId !== "" && facts.standIns?.some((standIn) => standIn.svixId === record.svixId)) return addStandIn(facts, record);
  const kept = facts.lasting;
  const lasting = kept && record.svixId !== "" && kept.svixId === record.svixId ? fillBlanks(kept, record) : earliest(kept, record);
  const next = addRealKey(facts, record);
  return lasting === kept ? next : { ...next, lasting };
}

/** A fact as a reconciliation reconstructed it (only lasting suppressions and soft bounces count differently). */
export function reconstructedFact(fact: Fact): Fact {
  if (fact.kind === "lasting") return { ...fact, reconstructed: true };
  if (fact.kind === "soft_bounce") return { ...fact, bounce: { ...fact.bounce, reconstructed: true } };
  return fact;
}

/** Either a stand-in, or a real bounce of the same email, decides: the real one, whichever came first. */
function supersedeSoftBounce(facts: AddressFacts, bounce: SoftBounceFact): AddressFacts | undefined {
  const ofEmail = (kept: SoftBounceFact, reconstructed: boolean) => kept.emailId === bounce.emailId && !!kept.reconstructed === reconstructed;
  if (bounce.reconstructed) return facts.softBounces.some((kept) => ofEmail(kept, false)) ? undefined : facts;
  if (bounce.emailId === "" || !facts.softBounces.some((kept) => ofEmail(kept, true))) return facts;
  return { ...facts, softBounces: facts.softBounces.filter((kept) => !ofEmail(kept, true)) };
}

function addSoftBounce(current: AddressFacts, bounce: SoftBounceFact): AddressFacts {
  const facts = supersedeSoftBounce(current, bounce);
  if (facts === undefined) return current;
  const index = facts.softBounces.findIndex((kept) => kept.svixId === bounce.svixId);
  if (index < 0) return { ...facts, softBounces: [...facts.softBounces, bounce].sort(compareBounces) };
  const kept = facts.softBounces[index]!;
  const merged = fillBlanks(kept, bounce);
  return merged === kept ? facts : { ...facts, softBounces: facts.softBounces.with(index, merged) };
}

function addDelivery(facts: AddressFacts, atMs: number): AddressFacts {
  if (facts.deliveries.includes(atMs)) return facts;
  return { ...facts, deliveries: [...facts.deliveries, atMs].sort((a, b) => a - b) };
}

const originOf = (fact: Fact) =>
  fact.kind === "lasting" ? fact.record : fact.kind === "soft_bounce" ? fact.bounce : { svixId: fact.svixId, atMs: fact.atMs };

/**
 * Adds what one event says; returns `facts` itself when the event changes nothing (a redelivery,
 * a replay, an event before the last removal or, for soft bounces and deliveries, beyond the horizon).
 */
export function addFact(facts: AddressFacts, fact: Fact, policy: SoftBouncePolicy): AddressFacts {
  const { svixId, atMs } = originOf(fact);
  if (atMs <= facts.removedAtMs) return facts; // the operator's removal is the later word on it
  if (svixId !== "" && facts.legacyApplied?.svixIds.includes(svixId)) return facts;
  // A lasting suppression needs no streak context, so it is exact at any age and never ignored.
  if (fact.kind !== "lasting" && atMs < horizonOf(facts, policy)) return facts;
  let next =
    fact.kind === "lasting"
      ? fact.reconstructed
        ? addStandIn(facts, fact.record)
        : addLasting(facts, fact.record)
      : fact.kind === "soft_bounce"
        ? addSoftBounce(facts, fact.bounce)
        : fact.kind === "delivery"
          ? addDelivery(facts, fact.atMs)
          : facts;
  if (atMs > next.newestMs) next = { ...next, newestMs: atMs };
  return settle(next, policy);
}

/** A manual removal at `atMs`: everything dated at or before it is forgotten. */
export function removeAll(facts: AddressFacts, atMs: number): AddressFacts {
  // Like `lasting`: the removal is dated no earlier than any suppression known (removeManually).
  const { standIns, realLastingKeys, ...rest } = facts;
  return {
    ...rest,
    lasting: null,
    removedAtMs: atMs,
    softBounces: facts.softBounces.filter((bounce) => bounce.atMs > atMs),
    deliveries: facts.deliveries.filter((delivered) => delivered > atMs),
  };
}

/**
 * Moves `settledMs` up to the horizon (or further, when a list is over its cap): a streak completed
 * before it becomes lasting, and facts no later streak can reach are dropped. Returns `facts` itself
 * when there is nothing to settle.
 */
function settle(facts: AddressFacts, policy: SoftBouncePolicy): AddressFacts {
  const window = policy.windowMs;
  let target = Math.max(facts.settledMs, facts.newestMs - policy.replayHorizonMs);
  const extraBounces = facts.softBounces.length - softBounceCap;
  if (extraBounces > 0) target = Math.max(target, facts.softBounces[extraBounces - 1]!.atMs + window + 1);
  const extraDeliveries = facts.deliveries.length - deliveryCap;
  if (extraDeliveries > 0) target = Math.max(target, facts.deliveries[extraDeliveries - 1]! + window + 1);
  if (target <= facts.settledMs) return facts;

  const cause = streakCompletedBy(streakOf(facts), policy);
  const lasting = cause && cause.atMs < target ? earliest(facts.lasting, policyRecord(cause)) : facts.lasting;
  const keepFrom = target - window;
  const { legacyApplied, ...rest } = facts;
  return {
    ...rest,
    lasting,
    softBounces: facts.softBounces.filter((bounce) => bounce.atMs >= keepFrom),
    deliveries: facts.deliveries.filter((delivered) => delivered >= keepFrom),
    settledMs: target,
    ...(legacyApplied && legacyApplied.untilMs >= target ? { legacyApplied } : {}),
  };
}
