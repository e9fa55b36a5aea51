import { describe, expect, it } from "vitest";
import { afterSendRecorded, silenceCheckIntervalMs, silentSince, unansweredSince, type SilenceState } from "./silence.ts";

const minute = 60_000;
const at = (minutes: number) => new Date(Date.UTC(2026, 11, 1, 10, 0) + minutes * minute);
const silence = 30 * minute;

/** The state after the sends, each seen with the last accepted webhook known when it was handled. */
function fold(sends: { recordedAt: Date; lastAcceptedAt?: Date }[]): SilenceState {
  let state: SilenceState = {};
  for (const send of sends) state = afterSendRecorded(state, send.recordedAt, send.lastAcceptedAt) ?? state;
  return state;
}

describe("webhook silence", () => {
  it("starts at a send no webhook came after, once the silence time has passed since it, not before", () => {
    const state = fold([{ recordedAt: at(0) }]);
    expect(silentSince(state, undefined, at(29.99), silence)).toBeUndefined();
    expect(silentSince(state, undefined, at(30), silence)).toEqual(at(0));
    expect(silentSince(state, at(-5), at(45), silence)).toEqual(at(0));
  });

  it("is over when a webhook is accepted after the send, or at the same moment", () => {
    const state = fold([{ recordedAt: at(0) }]);
    expect(silentSince(state, at(1), at(60), silence)).toBeUndefined();
    expect(silentSince(state, at(0), at(60), silence)).toBeUndefined();
  });

  it("ignores a send the last accepted webhook already came after", () => {
    expect(afterSendRecorded({}, at(0), at(2))).toBeUndefined();
    expect(afterSendRecorded({}, at(2), at(2))).toBeUndefined();
  });

  it("counts from the oldest unanswered send, whatever order the sends arrive in", () => {
    const sends = [at(5), at(1), at(9), at(3)];
    const orders = [sends, [...sends].reverse(), [sends[2]!, sends[0]!, sends[3]!, sends[1]!]];
    for (const order of orders) {
      expect(unansweredSince(fold(order.map((recordedAt) => ({ recordedAt }))), undefined)).toEqual(at(1));
    }
  });

  it("changes nothing when a send is delivered again", () => {
    const state = fold([{ recordedAt: at(1) }, { recordedAt: at(4) }]);
    expect(afterSendRecorded(state, at(4), undefined)).toBeUndefined();
    expect(afterSendRecorded(state, at(1), undefined)).toBeUndefined();
  });

  it("starts again at the first send after a webhook answered the older ones", () => {
    // Sends at 0 and 1, a webhook at 2, then sends at 10 and 12.
    const state = fold([{ recordedAt: at(0) }, { recordedAt: at(1) }, { recordedAt: at(12), lastAcceptedAt: at(2) }, { recordedAt: at(10), lastAcceptedAt: at(2) }]);
    expect(unansweredSince(state, at(2))).toEqual(at(10));
    expect(silentSince(state, at(2), at(39.9), silence)).toBeUndefined();
    expect(silentSince(state, at(2), at(40), silence)).toEqual(at(10));
  });

  it("keeps a send handled while the webhook accepted just before it was not yet known", () => {
    // The webhook at 2 is still unflushed when the send at 3 is handled: it folds into the send at 0.
    const state = fold([{ recordedAt: at(0) }, { recordedAt: at(3), lastAcceptedAt: undefined }]);
    expect(unansweredSince(state, at(2))).toEqual(at(3));
    expect(silentSince(state, at(2), at(33), silence)).toEqual(at(3));
    // A later send handled once the webhook is known starts no later than it.
    expect(unansweredSince(fold([{ recordedAt: at(0) }, { recordedAt: at(3) }, { recordedAt: at(7), lastAcceptedAt: at(2) }]), at(2))).toEqual(at(3));
  });

  it("never starts before a webhook that came after every send", () => {
    const state = fold([{ recordedAt: at(0) }, { recordedAt: at(3) }]);
    expect(unansweredSince(state, at(3))).toBeUndefined();
    expect(silentSince(state, at(4), at(120), silence)).toBeUndefined();
  });

  it("is checked within a quarter of the silence time, at most once a minute", () => {
    expect(silenceCheckIntervalMs(30 * minute)).toBe(60_000);
    expect(silenceCheckIntervalMs(3000)).toBe(750);
  });
});
