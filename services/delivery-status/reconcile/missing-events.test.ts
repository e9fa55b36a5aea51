import { describe, expect, it } from "vitest";
import { projectSend, type EventFact, type EventKind, type Registration, type SendState } from "../send-projection.ts";
import { missingEvents } from "./missing-events.ts";
import type { ResendEmail } from "./resend-api.ts";

const sentAtUs = 1_780_000_000_000_000;
const registration: Registration = { campaignId: "c1", subscriberId: "s1", recipient: "r@example.com", sentAtUs, recordedAtUs: sentAtUs };

const hard = { type: "Permanent", subType: "General", message: "no such mailbox" };
const soft = { type: "Transient", subType: "MailboxFull", message: "mailbox full" };

/** A fact of the send, `minutes` after it was sent. */
function fact(kind: EventKind, minutes: number, extra: Partial<EventFact> = {}): EventFact {
  return { svixId: `msg_${kind}_${minutes}`, kind, atUs: sentAtUs + minutes * 60_000_000, ...extra };
}
const bounced = (detail: { type: string; subType: string; message: string }, minutes: number, extra: Partial<EventFact> = {}) =>
  fact("bounced", minutes, { bounce: { ...detail, diagnosticCode: "" }, ...extra });

/** The state a send with these facts is in, as the service stores it. */
const stateOf = (...facts: EventFact[]): SendState => projectSend(registration, facts);

const missing = (state: SendState, lastEvent: string | undefined, bounce?: ResendEmail["bounce"]) =>
  missingEvents(state, { lastEvent, ...(bounce ? { bounce } : {}) });
const typesMissing = (state: SendState, lastEvent: string | undefined) => missing(state, lastEvent).map((event) => event.type);

describe("the events a reconciliation reconstructs", () => {
  it("are every event Resend's last_event implies, for a send that saw none", () => {
    const none = stateOf();
    expect(typesMissing(none, "delivered")).toEqual(["email.delivered"]);
    expect(typesMissing(none, "opened")).toEqual(["email.delivered", "email.opened"]);
    expect(typesMissing(none, "clicked")).toEqual(["email.delivered", "email.opened", "email.clicked"]);
    expect(typesMissing(none, "complained")).toEqual(["email.delivered", "email.complained"]);
    expect(missing(none, "bounced", hard)).toEqual([{ type: "email.bounced", bounce: hard }]);
    expect(typesMissing(none, "failed")).toEqual(["email.failed"]);
    expect(typesMissing(none, "suppressed")).toEqual(["email.suppressed"]);
    expect(typesMissing(none, "delivery_delayed")).toEqual(["email.delivery_delayed"]);
  });

  it("carry no bounce detail but on a bounce", () => {
    expect(missing(stateOf(), "clicked", hard).every((event) => event.bounce === undefined)).toBe(true);
  });

  it("are none for what says nothing new (sent, queued, scheduled, canceled), an unknown last_event or none at all", () => {
    for (const lastEvent of ["sent", "queued", "scheduled", "canceled", "email.delivered", "teleported", "", undefined]) {
      expect(missing(stateOf(), lastEvent, hard), String(lastEvent)).toEqual([]);
    }
  });

  it("leave out what the send has already seen", () => {
    expect(typesMissing(stateOf(fact("delivered", 1)), "clicked")).toEqual(["email.opened", "email.clicked"]);
    expect(typesMissing(stateOf(fact("delivered", 1), fact("opened", 2)), "clicked")).toEqual(["email.clicked"]);
    expect(typesMissing(stateOf(fact("delivered", 1), fact("opened", 2), fact("clicked", 3)), "clicked")).toEqual([]);
    expect(typesMissing(stateOf(fact("opened", 2)), "opened")).toEqual(["email.delivered"]);
    expect(typesMissing(stateOf(fact("delivered", 1)), "complained")).toEqual(["email.complained"]);
    expect(typesMissing(stateOf(fact("complained", 5)), "complained")).toEqual(["email.delivered"]);
    expect(typesMissing(stateOf(fact("delivered", 1)), "delivered")).toEqual([]);
    expect(typesMissing(stateOf(fact("failed", 1, { failureReason: "invalid recipient" })), "failed")).toEqual([]);
    expect(typesMissing(stateOf(fact("suppressed", 1, { suppression: { type: "OnAccountSuppressionList", message: "" } })), "suppressed")).toEqual([]);
    expect(typesMissing(stateOf(fact("delivery_delayed", 1)), "delivery_delayed")).toEqual([]);
    // Seen is seen whatever status the send ended in: a later bounce does not make its delivery missing.
    expect(typesMissing(stateOf(fact("delivered", 1), bounced(hard, 2)), "opened")).toEqual(["email.opened"]);
  });

  it("leave out what an earlier reconciliation already reconstructed", () => {
    const reconstructed = { reconstructed: true as const };
    const state = stateOf(fact("delivered", 0, reconstructed), fact("opened", 0, reconstructed));
    expect(typesMissing(state, "clicked")).toEqual(["email.clicked"]);
    expect(missing(stateOf(bounced(hard, 0, reconstructed)), "bounced", hard)).toEqual([]);
  });

  it("hold the hard bounce Resend reports when the send saw only a soft one", () => {
    expect(missing(stateOf(fact("delivery_delayed", 1), bounced(soft, 2)), "bounced", hard)).toEqual([{ type: "email.bounced", bounce: hard }]);
    expect(missing(stateOf(bounced(hard, 2)), "bounced", hard)).toEqual([]);
    expect(missing(stateOf(bounced(soft, 2)), "bounced", soft)).toEqual([]);
  });

  it("reconstruct a bounce without Resend's bounce object as Undetermined, never a guessed hard bounce", () => {
    expect(missing(stateOf(), "bounced")).toEqual([{ type: "email.bounced", bounce: { type: "Undetermined", subType: "", message: "" } }]);
  });

  it("add no bounce of unknown severity to a send that saw a bounce: Resend's 'bounced' is the one it saw", () => {
    expect(missing(stateOf(bounced(hard, 2)), "bounced")).toEqual([]);
    expect(missing(stateOf(bounced(soft, 2)), "bounced")).toEqual([]);
  });
});
