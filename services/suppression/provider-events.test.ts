/**
 * End to end against real NATS and FerretDB, for what other providers bring: events that name exactly
 * which recipients they are about (SES bounces and complaints), and unsubscribes.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SuppressionReason, SuppressionSource } from "../../gen/ngsreach/events/v1/domain_events_pb.ts";
import { SubscriberStatus } from "../../gen/ngsreach/suppression/v1/suppression_pb.ts";
import { privateNats, testBaseConfig, uniqueName, waitFor } from "../../test/harness.ts";
import { publishEmailEvent, type EmailEventOptions } from "../../test/support/provider-envelopes.ts";
import { publishedEvents, publishSendRecorded, startSuppression, waitIdle, type Harness } from "../../test/support/suppression-service.ts";

let h: Harness;
beforeAll(async () => {
  const nats = await privateNats();
  h = await startSuppression(testBaseConfig({ natsUrl: nats.url }));
});
afterAll(async () => h?.service.stop());

const js = () => h.service.context.nats.js;
const at = (minutesAgo: number) => new Date(Date.now() - minutesAgo * 60_000);

async function check(workspaceId: string, emails: string[]) {
  return (await h.client.checkSuppressions({ workspaceId, emails })).results;
}
async function suppressedOf(workspaceId: string, emails: string[]) {
  return (await check(workspaceId, emails)).map((result) => result.suppressed);
}
async function subscriberOf(workspaceId: string, email: string) {
  return (await h.client.getSubscriber({ workspaceId, subscriber: { case: "email", value: email } })).subscriber;
}

// Five recipients of one SES message; its bounce names three of them (one twice, spelled differently).
const recipients = ["ann@x.com", "Bob@X.com", "cy@x.com", "dee@x.com", "eve@x.com"];
const normalised = ["ann@x.com", "Bob@x.com", "cy@x.com", "dee@x.com", "eve@x.com"];
const namedBounce = (messageId: string): EmailEventOptions => ({
  messageId,
  to: ["ann@X.com", " Bob@x.COM", "cy@x.com", "ann@x.com"],
  bounce: { type: "Permanent", subType: "General" },
  recipientsNamed: true,
  createdAt: at(5),
});

describe("the suppression service, fed by events that name their recipients", () => {
  it.each([
    ["the send record first, its recipient named", true, "Bob@x.com"],
    ["the bounce first, the send record's recipient not named", false, "dee@x.com"],
  ])("suppresses exactly the addresses an SES bounce names, each announced once, however often it is redelivered (%s)", async (_label, recordFirst, recipient) => {
    const ws = uniqueName("ws");
    const messageId = uniqueName("010f");
    const send = { workspaceId: ws, emailId: `ses:${messageId}`, campaignId: "camp_ses", subscriberId: "sub_record", recipient };
    if (recordFirst) {
      await publishSendRecorded(h.service, send);
      await waitIdle(h.service);
    }
    const first = await publishEmailEvent(js(), ws, "ses", "email.bounced", namedBounce(messageId));
    expect(first).toEqual({ svixId: expect.stringMatching(/^ses:/), emailId: `ses:${messageId}` });
    await publishEmailEvent(js(), ws, "ses", "email.bounced", namedBounce(messageId), { eventId: first.svixId, useMsgId: false });
    await waitIdle(h.service);
    // Right away, whether or not the send record is there.
    expect(await suppressedOf(ws, recipients)).toEqual([true, true, true, false, false]);
    if (!recordFirst) await publishSendRecorded(h.service, send);
    await publishEmailEvent(js(), ws, "ses", "email.bounced", namedBounce(messageId), { eventId: first.svixId, useMsgId: false });
    await waitIdle(h.service);

    expect(await suppressedOf(ws, recipients)).toEqual([true, true, true, false, false]);
    for (const email of normalised.slice(0, 3)) {
      const subscriber = await subscriberOf(ws, email);
      expect(subscriber?.status, email).toBe(SubscriberStatus.BOUNCED);
      expect(subscriber?.suppression, email).toMatchObject({ reason: SuppressionReason.BOUNCED, source: SuppressionSource.EVENT, svixId: first.svixId, emailId: `ses:${messageId}` });
      // The send record's subscriber id belongs to its own recipient only.
      expect(subscriber?.subscriberId, email).toBe(email === recipient ? "sub_record" : "");
    }
    // The campaign is the email's, so every named recipient's once the record was known when the bounce applied.
    if (recordFirst) expect((await subscriberOf(ws, "cy@x.com"))?.suppression?.campaignId).toBe("camp_ses");
    // A send record's recipient the bounce does not name keeps its subscriber id and stays active.
    if (!recordFirst) expect(await subscriberOf(ws, recipient)).toMatchObject({ subscriberId: "sub_record", status: SubscriberStatus.ACTIVE });

    const events = await waitFor(async () => {
      const published = await publishedEvents(h.service, ws);
      return published.suppressed.length >= 3 ? published : undefined;
    }, { what: "three suppressed events" });
    expect(events.suppressed.map((event) => event.email).sort()).toEqual(normalised.slice(0, 3).sort());
    expect(events.unsuppressed).toEqual([]);
    expect(new Set(events.msgIds).size).toBe(events.msgIds.length);
  });

  it("marks as complained exactly the addresses an SES complaint names, not the send record's recipient", async () => {
    const ws = uniqueName("ws");
    const messageId = uniqueName("010f");
    await publishSendRecorded(h.service, { workspaceId: ws, emailId: `ses:${messageId}`, campaignId: "camp", subscriberId: "sub_eve", recipient: "eve@x.com" });
    await waitIdle(h.service);
    await publishEmailEvent(js(), ws, "ses", "email.complained", { messageId, to: ["ann@x.com", "cy@x.com"], recipientsNamed: true });
    await waitIdle(h.service);
    const results = await check(ws, recipients);
    expect(results.map((result) => result.reason)).toEqual([
      SuppressionReason.COMPLAINED,
      SuppressionReason.UNSPECIFIED,
      SuppressionReason.COMPLAINED,
      SuppressionReason.UNSPECIFIED,
      SuppressionReason.UNSPECIFIED,
    ]);
    expect((await publishedEvents(h.service, ws)).suppressed.map((event) => event.email).sort()).toEqual(["ann@x.com", "cy@x.com"]);
  });
});

describe("the suppression service, fed by unsubscribes", () => {
  it.each(["sendgrid", "postmark"] as const)(
    "suppresses an address that unsubscribed (reason unsubscribed), and no delivery dated before or after lifts it (%s)",
    async (provider) => {
      const ws = uniqueName("ws");
      const unsubscribe: EmailEventOptions = { messageId: "u1", to: ["Leaver@X.com"], createdAt: at(20) };
      const first = await publishEmailEvent(js(), ws, provider, "email.unsubscribed", unsubscribe);
      await waitIdle(h.service);
      const [result] = await check(ws, ["Leaver@x.com"]);
      expect(result).toMatchObject({ suppressed: true, reason: SuppressionReason.UNSUBSCRIBED, status: SubscriberStatus.SUPPRESSED });

      // Arriving later: a delivery dated before the unsubscribe, one after it, and the unsubscribe again.
      await publishEmailEvent(js(), ws, provider, "email.delivered", { messageId: "d0", to: ["Leaver@x.com"], createdAt: at(30) });
      await publishEmailEvent(js(), ws, provider, "email.delivered", { messageId: "d2", to: ["Leaver@x.com"], createdAt: at(10) });
      await publishEmailEvent(js(), ws, provider, "email.unsubscribed", unsubscribe, { eventId: first.svixId, useMsgId: false });
      await waitIdle(h.service);

      const subscriber = await subscriberOf(ws, "Leaver@x.com");
      expect(subscriber?.suppression).toMatchObject({
        reason: SuppressionReason.UNSUBSCRIBED,
        source: SuppressionSource.EVENT,
        svixId: first.svixId,
        emailId: `${provider}:u1`,
        detail: "",
      });
      const listed = await h.client.listSuppressions({ workspaceId: ws, reason: SuppressionReason.UNSUBSCRIBED });
      expect(listed.suppressions.map((item) => [item.email, item.reason])).toEqual([["Leaver@x.com", SuppressionReason.UNSUBSCRIBED]]);
      expect((await h.client.listSuppressions({ workspaceId: ws, reason: SuppressionReason.BOUNCED })).suppressions).toEqual([]);
      const exported = [];
      for await (const chunk of h.client.exportSuppressions({ workspaceId: ws })) exported.push(...chunk.suppressions);
      expect(exported.map((item) => item.reason)).toEqual([SuppressionReason.UNSUBSCRIBED]);

      const events = await waitFor(async () => {
        const published = await publishedEvents(h.service, ws);
        return published.suppressed.length === 1 ? published : undefined;
      }, { what: "one suppressed event" });
      expect(events.suppressed[0]).toMatchObject({ email: "Leaver@x.com", reason: SuppressionReason.UNSUBSCRIBED, source: SuppressionSource.EVENT, svixId: first.svixId });
      expect(events.unsuppressed).toEqual([]);
    },
  );
});
