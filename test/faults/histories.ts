/**
 * What happens to one send, as the sample kinds every provider maps onto (cli/provider-samples.ts), in
 * the kinds its provider reports at all (`kindsOf`: Postmark reports no sends, failures or drops; Resend
 * has no unsubscribe event). Shares are those of the Resend workload; a mixed workload forces the first
 * sends of each provider through every outcome so even a short run has every kind of every provider.
 */
import { kindsOf, type SampleKind } from "../../cli/provider-samples.ts";
import type { ProviderName } from "./workload.ts";

/** One event of a history. */
export interface Step {
  kind: SampleKind;
  link?: string;
  /** For an SES email of several recipients: whom the event names. */
  about?: string[];
}

/** How a send ends: engaged (delivered, maybe opened and clicked) or one of the other outcomes. */
export type Outcome = "engaged" | "hard_bounce" | "complained" | "unsubscribed" | "soft_bounce" | "failed" | "suppressed";

const resendKinds: readonly SampleKind[] = ["sent", "delivered", "delivery_delayed", "opened", "clicked", "hard_bounce", "soft_bounce", "complained", "failed", "suppressed"];
const kindsOfProvider: Record<ProviderName, readonly SampleKind[]> = { resend: resendKinds, ...kindsOf };
const canReport = (provider: ProviderName, kind: SampleKind) => kindsOfProvider[provider].includes(kind);

/** The forced outcomes, in order (an engaged send is delayed first, opened and clicked: it covers those kinds). */
const coverage: readonly Outcome[] = ["engaged", "hard_bounce", "complained", "unsubscribed", "soft_bounce", "failed", "suppressed"];

/** The forced outcome of a provider's j-th send, if it has one. */
export function coverageOutcome(provider: ProviderName, j: number): Outcome | undefined {
  return coverage.filter((outcome) => outcome === "engaged" || canReport(provider, outcome))[j];
}

/** The outcome by roll, with the Resend workload's shares. */
function rolledOutcome(random: () => number, provider: ProviderName): Outcome {
  const roll = random();
  if (roll < 0.1) return "hard_bounce";
  if (roll < 0.18) return "soft_bounce";
  if (roll < 0.22 && canReport(provider, "failed")) return "failed";
  if (roll < 0.25 && canReport(provider, "suppressed")) return "suppressed";
  return "engaged";
}

/** A realistic history in the kinds the provider has: the forced outcome's, else a rolled one. */
export function historyOf(random: () => number, provider: ProviderName, forced?: Outcome): Step[] {
  const steps: Step[] = [];
  const add = (kind: SampleKind, link?: string) => void (canReport(provider, kind) && steps.push({ kind, link }));
  add("sent");
  const outcome = forced ?? rolledOutcome(random, provider);
  if (outcome === "hard_bounce" || outcome === "failed" || outcome === "suppressed") {
    add(outcome);
  } else if (outcome === "soft_bounce") {
    if (random() < 0.5) add("delivery_delayed");
    add("soft_bounce");
  } else {
    if (forced === "engaged" || random() < 0.2) add("delivery_delayed");
    add("delivered");
    const opens = forced === "engaged" ? 2 : Math.floor(random() * 4);
    for (let k = 0; k < opens; k++) add("opened");
    const clicks = forced === "engaged" ? 1 : opens > 0 ? Math.floor(random() * 3) : 0;
    for (let k = 0; k < clicks; k++) add("clicked", `https://example.test/l/${k % 2}`);
    if (outcome === "complained" || (!forced && random() < 0.06)) add("complained");
    if (outcome === "unsubscribed" || (!forced && canReport(provider, "unsubscribed") && random() < 0.06)) add("unsubscribed");
  }
  return steps;
}

/** An SES email to three: sent, a hard bounce naming two of them, a delivery naming the third, an open. */
export function multiRecipientHistory(destination: string[]): Step[] {
  return [{ kind: "sent" }, { kind: "hard_bounce", about: destination.slice(0, 2) }, { kind: "delivered", about: destination.slice(2) }, { kind: "opened" }];
}
