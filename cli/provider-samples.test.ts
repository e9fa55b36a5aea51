import { describe, expect, it } from "vitest";
import { createMailgunAdapter } from "../services/webhook-gateway/providers/mailgun.ts";
import { createInMemoryTokenMemory } from "../services/webhook-gateway/providers/mailgun-tokens.ts";
import { createPostmarkAdapter } from "../services/webhook-gateway/providers/postmark.ts";
import type { EventKind, ProviderAdapter } from "../services/webhook-gateway/providers/provider-adapter.ts";
import { createSendgridAdapter } from "../services/webhook-gateway/providers/sendgrid.ts";
import { sesEvent } from "../services/webhook-gateway/providers/ses-events.ts";
import { kindsOf, mailgunEventData, postmarkRecord, sendgridEvent, sesMessage, type SampleKind } from "./provider-samples.ts";

const expectedKind = (kind: SampleKind): EventKind => (kind === "hard_bounce" || kind === "soft_bounce" ? "bounced" : kind);
const sample = { messageId: "msg-1", to: ["a@example.com", "b@example.com"] };
const eventsOf = (adapter: ProviderAdapter<unknown>, body: unknown) => {
  const contents = adapter.contents(Buffer.from(JSON.stringify(body)));
  if (contents.kind !== "events") throw new Error(contents.kind);
  return contents.events;
};

describe("provider samples", () => {
  it.each(Object.entries(kindsOf))("are read by the %s adapter as the kind they are made for", (provider, kinds) => {
    for (const kind of kinds) {
      const [event] =
        provider === "ses"
          ? [sesEvent("sns-1", JSON.stringify(sesMessage(kind, sample)))]
          : provider === "sendgrid"
            ? eventsOf(createSendgridAdapter() as ProviderAdapter<unknown>, [sendgridEvent(kind, sample)])
            : provider === "mailgun"
              ? eventsOf(createMailgunAdapter({ tokens: createInMemoryTokenMemory() }) as ProviderAdapter<unknown>, { "event-data": mailgunEventData(kind, sample) })
              : eventsOf(createPostmarkAdapter() as ProviderAdapter<unknown>, postmarkRecord(kind, sample));
      expect([kind, event?.kind, event?.messageId]).toEqual([kind, expectedKind(kind), "msg-1"]);
      if (kind === "hard_bounce" || kind === "soft_bounce") expect(event?.bounce?.severity).toBe(kind === "hard_bounce" ? "hard" : "soft");
    }
  });

  it("name every recipient of an SES bounce", () => {
    const event = sesEvent("sns-2", JSON.stringify(sesMessage("hard_bounce", sample)));
    expect([event.recipients, event.recipientsNamed]).toEqual([sample.to, true]);
  });
});
