/**
 * Event builders and a runner for the pure tests of the rules (not used in
 * production code): applies events one by one as changeSubscriber would and
 * collects the transitions it would announce.
 */
import { defaultSoftBouncePolicy, type SoftBouncePolicy } from "../../services/suppression/soft-bounce-policy.ts";
import { applyEvent, newSubscriber, type AddressEvent, type SubscriberState, type Transition } from "../../services/suppression/subscriber-state.ts";
export { seededRandom, shuffle } from "../seeded-random.ts";

export const day = 86_400_000;
/** Event times are days after this instant. */
export const epoch = Date.UTC(2026, 0, 1);

const origin = (svixId: string, atDay: number) => ({
  svixId,
  atMs: epoch + atDay * day,
  emailId: `e_${svixId}`,
  campaignId: "c1",
  subscriberId: "sub_1",
});

export const soft = (svixId: string, atDay: number, subType = "MailboxFull"): AddressEvent => ({
  kind: "soft_bounce",
  subType,
  counts: !["MessageTooLarge", "ContentRejected", "AttachmentRejected"].includes(subType),
  ...origin(svixId, atDay),
});
export const hard = (svixId: string, atDay: number): AddressEvent => ({ kind: "hard_bounce", subType: "General", ...origin(svixId, atDay) });
export const delivered = (svixId: string, atDay: number): AddressEvent => ({ kind: "delivered", ...origin(svixId, atDay) });
export const unsubscribed = (svixId: string, atDay: number): AddressEvent => ({ kind: "unsubscribed", ...origin(svixId, atDay) });

export const fresh = () => newSubscriber("ws", "a@x.com", 0);

/** Applies `events` in the given order; `version` advances on every stored change. */
export function run(events: readonly AddressEvent[], start: SubscriberState = fresh(), policy: SoftBouncePolicy = defaultSoftBouncePolicy) {
  let state = start;
  const transitions: Transition[] = [];
  for (const event of events) {
    const outcome = applyEvent(state, event, policy, 1);
    if (outcome.changed) state = { ...outcome.state, version: state.version + 1 };
    if (outcome.transition) transitions.push(outcome.transition);
  }
  return { state, transitions };
}

/**
 * Whether the announced transitions leave the address suppressed; throws when they do not
 * alternate (two suppressed or two unsuppressed in a row would be a duplicate announcement).
 */
export function announcedSuppressed(transitions: readonly Transition[], from = false): boolean {
  let suppressed = from;
  for (const transition of transitions) {
    if ((transition.kind === "suppressed") === suppressed) throw new Error(`announced ${transition.kind} twice in a row`);
    suppressed = !suppressed;
  }
  return suppressed;
}

/** Every ordering of `items`. */
export function* permutations<T>(items: readonly T[]): Generator<T[]> {
  if (items.length <= 1) {
    yield [...items];
    return;
  }
  for (let i = 0; i < items.length; i++) {
    for (const rest of permutations([...items.slice(0, i), ...items.slice(i + 1)])) yield [items[i]!, ...rest];
  }
}

