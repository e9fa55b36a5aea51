/**
 * What is kept of an address when its subscriber is erased — a pure rule, no I/O. The state moves to the
 * address's pseudonym (address-hash.ts) and keeps its facts (svix, email and campaign ids, times: nobody's
 * data without the address), so its suppression and history stay true; it drops the subscriber id and
 * every operator note (operators write addresses and names into notes). An address that was not
 * suppressed is suppressed now, reason "erased", so that a person who asked to be forgotten is never
 * mailed again by accident (CheckSuppressions answers from the hash).
 */
import { addManually, type HistoryEntry, type SubscriberState, type SuppressionRecord } from "../subscriber-state.ts";
import type { SoftBouncePolicy } from "../soft-bounce-policy.ts";

export interface ErasureStamp {
  erasureId: string;
  actor: string;
  atMs: number;
}

const withoutNote = <T extends SuppressionRecord | HistoryEntry>(record: T): T => (record.note === "" ? record : { ...record, note: "" });

/** Removes what identifies the person from a state already under its pseudonym. */
export function withoutPersonalData(state: SubscriberState): SubscriberState {
  const { facts } = state;
  return {
    ...state,
    subscriberId: "",
    suppression: state.suppression ? withoutNote(state.suppression) : null,
    history: state.history.map(withoutNote),
    facts: {
      ...facts,
      lasting: facts.lasting ? withoutNote(facts.lasting) : null,
      ...(facts.standIns ? { standIns: facts.standIns.map(withoutNote) } : {}),
    },
  };
}

/** The erased copy of `state` (the address's state, or a fresh one) under `pseudonym`, at version 1. */
export function erasedState(state: SubscriberState, pseudonym: string, stamp: ErasureStamp, policy: SoftBouncePolicy): SubscriberState {
  let next: SubscriberState = { ...state, email: pseudonym };
  if (!next.suppression) {
    const note = `erasure ${stamp.erasureId}`;
    next = addManually(next, { reason: "erased", subscriberId: "", actor: stamp.actor, note, atMs: stamp.atMs }, policy).state;
  }
  return { ...withoutPersonalData(next), version: 1, updatedAtMs: stamp.atMs };
}
