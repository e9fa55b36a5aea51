/**
 * Gap detection (issue 16): when is a workspace "silent" — sends recorded, and no verified webhook
 * after them for the silence time (RECONCILE_SILENCE_MINUTES). The one rule the health RPC, the monitor
 * and the metric use. Pure: times in, times out.
 *
 * Per workspace the gateway keeps the oldest send recorded after the last accepted webhook, and the
 * newest such send. The oldest alone would lose a send recorded while a webhook accepted just before it
 * is still unflushed (health counts are written in batches): the send is folded into an older oldest
 * that the webhook then answers, and nothing is left pointing at it. The newest keeps it; it is used when
 * the oldest turns out answered, and it is never earlier than the real first unanswered send, so it can
 * make a silence start late but never early.
 */

/** What the gateway remembers of a workspace's sends (both unset: no send recorded after a webhook). */
export interface SilenceState {
  /** The oldest send recorded when no accepted webhook was known after it. */
  oldestUnansweredSendAt?: Date;
  /** The newest such send. */
  newestUnansweredSendAt?: Date;
}

/**
 * The state after a send recorded at `recordedAt`, or undefined when it changes nothing (a send the last
 * accepted webhook already answers, or a redelivery). An oldest the last webhook answered is replaced.
 */
export function afterSendRecorded(state: SilenceState, recordedAt: Date, lastAcceptedAt: Date | undefined): SilenceState | undefined {
  if (lastAcceptedAt && recordedAt <= lastAcceptedAt) return undefined;
  const unanswered = [state.oldestUnansweredSendAt, state.newestUnansweredSendAt, recordedAt].filter((at) => isUnanswered(at, lastAcceptedAt));
  const next: SilenceState = {
    oldestUnansweredSendAt: earliest(unanswered),
    newestUnansweredSendAt: state.newestUnansweredSendAt && state.newestUnansweredSendAt > recordedAt ? state.newestUnansweredSendAt : recordedAt,
  };
  return sameTime(next.oldestUnansweredSendAt, state.oldestUnansweredSendAt) && sameTime(next.newestUnansweredSendAt, state.newestUnansweredSendAt)
    ? undefined
    : next;
}

/** When the first send no accepted webhook came after was recorded, or undefined when every send is answered. */
export function unansweredSince(state: SilenceState, lastAcceptedAt: Date | undefined): Date | undefined {
  return earliest([state.oldestUnansweredSendAt, state.newestUnansweredSendAt].filter((at) => isUnanswered(at, lastAcceptedAt)));
}

/** The start of the silence at `now` (GetWebhookHealth's silent_since_time), or undefined when not silent. */
export function silentSince(state: SilenceState, lastAcceptedAt: Date | undefined, now: Date, silenceMs: number): Date | undefined {
  const since = unansweredSince(state, lastAcceptedAt);
  return since && now.getTime() - since.getTime() >= silenceMs ? since : undefined;
}

/** How often the monitor looks: often enough to notice within a quarter of the silence time, at most once a minute. */
export function silenceCheckIntervalMs(silenceMs: number): number {
  return Math.max(100, Math.min(60_000, silenceMs / 4));
}

const isUnanswered = (at: Date | undefined, lastAcceptedAt: Date | undefined): at is Date => at !== undefined && (!lastAcceptedAt || at > lastAcceptedAt);

const earliest = (times: Date[]): Date | undefined => (times.length === 0 ? undefined : new Date(Math.min(...times.map((at) => at.getTime()))));

const sameTime = (a: Date | undefined, b: Date | undefined) => a?.getTime() === b?.getTime();
