/**
 * What Resend knows that a send does not: the events its `last_event` implies (issue 16 — clicked
 * implies delivered, opened and clicked; opened implies delivered and opened; complained implies
 * delivered), minus the kinds the send has already seen, real or reconstructed. Pure.
 *
 * A bounce Resend reports with a type the send has not seen counts as missing (a soft bounce seen,
 * Resend now says Permanent: the hard bounce is missing). Types Resend reports that say nothing new
 * ("sent", "queued", "scheduled", "canceled") and types this code does not know imply nothing.
 */
import { isHardBounce } from "../../shared/resend-events.ts";
import type { ResendEmail } from "./resend-api.ts";
import type { SendState } from "../send-projection.ts";

/** One event to reconstruct. */
export interface MissingEvent {
  type: string;
  bounce?: { type: string; subType: string; message: string };
}

const implied: Record<string, readonly string[]> = {
  delivered: ["email.delivered"],
  opened: ["email.delivered", "email.opened"],
  clicked: ["email.delivered", "email.opened", "email.clicked"],
  complained: ["email.delivered", "email.complained"],
  bounced: ["email.bounced"],
  failed: ["email.failed"],
  suppressed: ["email.suppressed"],
  delivery_delayed: ["email.delivery_delayed"],
};

/** Whether the send has already seen an event of this type (for a bounce: of this bounce's severity, any when unknown). */
function seen(state: SendState, type: string, severity: "hard" | "soft" | "unknown"): boolean {
  switch (type) {
    case "email.delivered":
      return state.deliveredAtUs !== undefined;
    case "email.opened":
      return state.firstOpenedAtUs !== undefined;
    case "email.clicked":
      return state.firstClickedAtUs !== undefined;
    case "email.complained":
      return state.complainedAtUs !== undefined;
    case "email.bounced":
      // Without Resend's bounce object its "bounced" is explained by any bounce seen: adding a soft one would invent it.
      if (severity === "unknown") return state.bouncedAtUs !== undefined || state.lastSoftBounceAtUs !== undefined;
      return severity === "hard" ? state.bouncedAtUs !== undefined : state.lastSoftBounceAtUs !== undefined;
    case "email.failed":
      return state.failedAtUs !== undefined;
    case "email.suppressed":
      return state.suppressedAtUs !== undefined;
    case "email.delivery_delayed":
      return state.deliveryDelayedAtUs !== undefined;
    default:
      return true;
  }
}

/** The events to reconstruct for a send. */
export function missingEvents(state: SendState, email: Pick<ResendEmail, "lastEvent" | "bounce">): MissingEvent[] {
  const types = implied[email.lastEvent ?? ""] ?? [];
  // Without Resend's bounce object the severity is unknown: reconstructed as "Undetermined" (soft), which
  // suppresses nobody — a guessed hard bounce would suppress an address on no evidence.
  const bounce = email.bounce ?? { type: "Undetermined", subType: "", message: "" };
  const severity = !email.bounce ? "unknown" : isHardBounce(bounce) ? "hard" : "soft";
  return types
    .filter((type) => !seen(state, type, severity))
    .map((type) => (type === "email.bounced" ? { type, bounce } : { type }));
}
