/**
 * End to end against real NATS and FerretDB: Resend events in, suppression
 * state and SubscriberSuppressed events out.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SuppressionReason, SuppressionSource } from "../../gen/ngsreach/events/v1/domain_events_pb.ts";
import { SubscriberStatus } from "../../gen/ngsreach/suppression/v1/suppression_pb.ts";
import { sampleEmailEvent } from "../../cli/resend-samples.ts";
import { privateNats, testBaseConfig, uniqueName, waitFor } from "../../test/harness.ts";
import { publishResendEvent } from "../../test/publish-events.ts";
import { emailIdOf } from "../shared/providers.ts";
import { seededRandom, shuffle } from "../../test/support/suppression-events.ts";
import { publishEmailEvent } from "../../test/support/provider-envelopes.ts";
import { publishedEvents, publishSendRecorded, startSuppression, waitIdle, type Harness } from "../../test/support/suppression-service.ts";

let h: Harness;
beforeAll(async () => {
  const nats = await privateNats();
  h = await startSuppression(testBaseConfig({ natsUrl: nats.url }));
});
afterAll(async () => h?.service.stop());

const js = () => h.service.context.nats.js;
const hard = { type: "Permanent", subType: "General" };
const soft = (subType = "MailboxFull") => ({ type: "Transient", subType });
const at = (minutesAgo: number) => new Date(Date.now() - minutesAgo * 60_000);
const providersCompared = ["resend", "sendgrid"] as const;

async function check(workspaceId: string, emails: string[]) {
  return (await h.client.checkSuppressions({ workspaceId, emails })).results;
}
async function suppressedOf(workspaceId: string, emails: string[]) {
  return (await check(workspaceId, emails)).map((result) => result.suppressed);
}

describe("the suppression service, fed by Resend events", () => {
  // The rules are the same for every provider: these run with Resend's ids and with SendGrid's "sendgrid:" ones.
  it.each(providersCompared)("suppresses on a hard bounce and publishes one event however often the bounce is redelivered (%s)", async (provider) => {
    const ws = uniqueName("ws");
    const bounce = { messageId: "e1", to: ["Ann@Example.COM"], bounce: hard, tags: { subscriber_id: "sub_ann" } };
    const first = await publishEmailEvent(js(), ws, provider, "email.bounced", bounce);
    expect(first.emailId).toBe(emailIdOf(provider, "e1"));
    // Redeliveries outside the duplicate window carry no msgID: the service itself must dedupe.
    await publishEmailEvent(js(), ws, provider, "email.bounced", bounce, { eventId: first.svixId, useMsgId: false });
    await publishEmailEvent(js(), ws, provider, "email.bounced", bounce, { eventId: first.svixId, useMsgId: false });
    await waitIdle(h.service);

    const [result] = await check(ws, ["  Ann@example.com "]);
    expect(result).toMatchObject({ suppressed: true, reason: SuppressionReason.BOUNCED, status: SubscriberStatus.BOUNCED, normalizedEmail: "Ann@example.com" });
    const { subscriber } = await h.client.getSubscriber({ workspaceId: ws, subscriber: { case: "email", value: "Ann@EXAMPLE.com" } });
    expect(subscriber?.subscriberId).toBe("sub_ann");
    expect(subscriber?.suppression).toMatchObject({ svixId: first.svixId, emailId: first.emailId, source: SuppressionSource.EVENT, detail: "General" });
    await waitFor(async () => (await publishedEvents(h.service, ws)).suppressed.length === 1, { what: "one suppressed event" });
    const events = await publishedEvents(h.service, ws);
    expect(events.suppressed).toHaveLength(1);
    expect(events.suppressed[0]).toMatchObject({ workspaceId: ws, email: "Ann@example.com", subscriberId: "sub_ann", reason: SuppressionReason.BOUNCED, svixId: first.svixId });
  });

  it.each(providersCompared)("does not suppress on soft bounces until the policy's third, and never on message-level subtypes (%s)", async (provider) => {
    const ws = uniqueName("ws");
    const bounced = (messageId: string, to: string, bounce: { type: string; subType: string }, createdAt?: Date) =>
      publishEmailEvent(js(), ws, provider, "email.bounced", { messageId, to: [to], bounce, ...(createdAt ? { createdAt } : {}) });
    for (const subType of ["MessageTooLarge", "ContentRejected", "AttachmentRejected", "MessageTooLarge"]) await bounced(uniqueName("e"), "big@x.com", soft(subType));
    await bounced("s1", "soft@x.com", soft(), at(30));
    await bounced("s2", "soft@x.com", { type: "Undetermined", subType: "General" }, at(20));
    await waitIdle(h.service);
    expect(await suppressedOf(ws, ["big@x.com", "soft@x.com"])).toEqual([false, false]);
    const { subscriber } = await h.client.getSubscriber({ workspaceId: ws, subscriber: { case: "email", value: "soft@x.com" } });
    expect(subscriber?.softBounceCount).toBe(2);
    expect(subscriber?.softBounceThreshold).toBe(3);

    // The three soft spellings all count: Transient, Undetermined and (Resend's older word) Temporary.
    const third = await bounced("s3", "soft@x.com", { type: "Temporary", subType: "MailboxFull" }, at(10));
    await waitIdle(h.service);
    const [result] = await check(ws, ["soft@x.com"]);
    expect(result).toMatchObject({ suppressed: true, reason: SuppressionReason.SOFT_BOUNCE_POLICY, status: SubscriberStatus.BOUNCED });
    const after = await h.client.getSubscriber({ workspaceId: ws, subscriber: { case: "email", value: "soft@x.com" } });
    expect(after.subscriber?.suppression).toMatchObject({ source: SuppressionSource.POLICY, svixId: third.svixId, emailId: emailIdOf(provider, "s3") });
    expect(await suppressedOf(ws, ["big@x.com"])).toEqual([false]);
  });

  it("lifts a policy suppression when a delivery dated between its soft bounces arrives after them, announcing it once", async () => {
    const ws = uniqueName("ws");
    const bounces = [];
    for (const [emailId, minutesAgo] of [["a", 40], ["c", 20], ["d", 10]] as const) {
      bounces.push(await publishResendEvent(js(), ws, sampleEmailEvent("email.bounced", { emailId, to: ["r@x.com"], bounce: soft(), createdAt: at(minutesAgo) })));
    }
    await waitIdle(h.service);
    expect(await suppressedOf(ws, ["r@x.com"])).toEqual([true]);

    const delivery = sampleEmailEvent("email.delivered", { emailId: "b", to: ["r@x.com"], createdAt: at(30) });
    const first = await publishResendEvent(js(), ws, delivery);
    await waitIdle(h.service);
    expect(await suppressedOf(ws, ["r@x.com"])).toEqual([false]);
    // A redelivery of the delivery (and of the last bounce) changes nothing more.
    await publishResendEvent(js(), ws, delivery, { svixId: first.svixId, useMsgId: false });
    await publishResendEvent(js(), ws, sampleEmailEvent("email.bounced", { emailId: "d", to: ["r@x.com"], bounce: soft(), createdAt: at(10) }), { svixId: bounces[2]!.svixId, useMsgId: false });
    await waitIdle(h.service);
    expect(await suppressedOf(ws, ["r@x.com"])).toEqual([false]);

    const events = await waitFor(async () => {
      const published = await publishedEvents(h.service, ws);
      return published.suppressed.length === 1 && published.unsuppressed.length === 1 ? published : undefined;
    }, { what: "one suppressed and one unsuppressed event" });
    expect(events.suppressed[0]).toMatchObject({ reason: SuppressionReason.SOFT_BOUNCE_POLICY, svixId: bounces[2]!.svixId });
    expect(events.unsuppressed[0]).toMatchObject({ email: "r@x.com", actor: "policy", previousReason: SuppressionReason.SOFT_BOUNCE_POLICY });
    expect(events.unsuppressed[0]?.note).toMatch(/delivery/);
    const { subscriber } = await h.client.getSubscriber({ workspaceId: ws, subscriber: { case: "email", value: "r@x.com" } });
    expect(subscriber?.status).toBe(SubscriberStatus.ACTIVE);
    expect(subscriber?.history.map((entry) => [entry.kind, entry.source, entry.svixId])).toEqual([
      [1, SuppressionSource.POLICY, bounces[2]!.svixId],
      [2, SuppressionSource.POLICY, first.svixId],
    ]);
  });

  it("reaches one suppression per address whatever order its events arrive in, duplicates included", async () => {
    const ws = uniqueName("ws");
    const random = seededRandom(7);
    // Per address, in event time: bounce, bounce, delivery, bounce, bounce, bounce: the last three suppress.
    const plan = [["b1", 60], ["b2", 50], ["d1", 45], ["b3", 40], ["b4", 30], ["b5", 20]] as const;
    const addresses = Array.from({ length: 8 }, (_, i) => `perm${i}@x.com`);
    const messages = addresses.flatMap((address) =>
      plan.flatMap(([name, minutesAgo]) => {
        const options = { emailId: `${address}-${name}`, to: [address], createdAt: at(minutesAgo) };
        const body = name.startsWith("d") ? sampleEmailEvent("email.delivered", options) : sampleEmailEvent("email.bounced", { ...options, bounce: soft() });
        const svixId = uniqueName("msg");
        return Array.from({ length: 1 + Math.floor(random() * 2) }, (_, copy) => ({ body, svixId, useMsgId: copy === 0 }));
      }),
    );
    await Promise.all(shuffle(messages, random).map(({ body, svixId, useMsgId }) => publishResendEvent(js(), ws, body, { svixId, useMsgId })));
    await waitIdle(h.service);

    const results = await check(ws, addresses);
    expect(results.map((result) => result.reason)).toEqual(addresses.map(() => SuppressionReason.SOFT_BOUNCE_POLICY));
    for (const address of addresses) {
      const { subscriber } = await h.client.getSubscriber({ workspaceId: ws, subscriber: { case: "email", value: address } });
      expect(subscriber?.suppression?.emailId, address).toBe(`${address}-b5`);
    }
    const events = await publishedEvents(h.service, ws);
    for (const address of addresses) {
      const net = events.suppressed.filter((e) => e.email === address).length - events.unsuppressed.filter((e) => e.email === address).length;
      expect(net, address).toBe(1);
    }
    expect(new Set(events.msgIds).size).toBe(events.msgIds.length);
  });

  it("never lifts a hard bounce for a delivery dated before or after it", async () => {
    const ws = uniqueName("ws");
    await publishResendEvent(js(), ws, sampleEmailEvent("email.bounced", { emailId: "h", to: ["hard@x.com"], bounce: hard, createdAt: at(20) }));
    await waitIdle(h.service);
    await publishResendEvent(js(), ws, sampleEmailEvent("email.delivered", { emailId: "before", to: ["hard@x.com"], createdAt: at(30) }));
    await publishResendEvent(js(), ws, sampleEmailEvent("email.delivered", { emailId: "after", to: ["hard@x.com"], createdAt: at(10) }));
    await waitIdle(h.service);
    expect(await suppressedOf(ws, ["hard@x.com"])).toEqual([true]);
    const events = await publishedEvents(h.service, ws);
    expect([events.suppressed.length, events.unsuppressed.length]).toEqual([1, 0]);
  });

  it("marks a complaint as complained and Resend's own suppression as suppressed with source resend", async () => {
    const ws = uniqueName("ws");
    await publishResendEvent(js(), ws, sampleEmailEvent("email.complained", { emailId: "c1", to: ["spam@x.com"] }));
    await publishResendEvent(js(), ws, sampleEmailEvent("email.suppressed", { emailId: "c2", to: ["listed@x.com"] }));
    await waitIdle(h.service);
    const [complained, listed] = await check(ws, ["spam@x.com", "listed@x.com"]);
    expect(complained).toMatchObject({ suppressed: true, reason: SuppressionReason.COMPLAINED, status: SubscriberStatus.COMPLAINED });
    expect(listed).toMatchObject({ suppressed: true, reason: SuppressionReason.SUPPRESSED_BY_RESEND, status: SubscriberStatus.SUPPRESSED });
    const { subscriber } = await h.client.getSubscriber({ workspaceId: ws, subscriber: { case: "email", value: "listed@x.com" } });
    expect(subscriber?.suppression).toMatchObject({ source: SuppressionSource.RESEND, detail: "OnAccountSuppressionList" });
  });

  it.each([
    ["send record first", true],
    ["bounce first", false],
  ])("suppresses exactly the send record's subscriber of a multi-recipient bounce (%s)", async (_order, recordFirst) => {
    const ws = uniqueName("ws");
    const to = ["one@x.com", "Two@X.com", "three@x.com"];
    const send = { workspaceId: ws, emailId: "multi", campaignId: "camp_1", subscriberId: "sub_two", recipient: " Two@x.COM" };
    const bounce = sampleEmailEvent("email.bounced", { emailId: "multi", to, bounce: hard });
    if (recordFirst) {
      await publishSendRecorded(h.service, send);
      await waitIdle(h.service);
      await publishResendEvent(js(), ws, bounce);
    } else {
      await publishResendEvent(js(), ws, bounce);
      await waitIdle(h.service);
      expect(await suppressedOf(ws, to)).toEqual([false, false, false]);
      await publishSendRecorded(h.service, send);
    }
    await waitIdle(h.service);
    expect(await suppressedOf(ws, to)).toEqual([false, true, false]);
    const { subscriber } = await h.client.getSubscriber({ workspaceId: ws, subscriber: { case: "subscriberId", value: "sub_two" } });
    expect(subscriber).toMatchObject({ email: "Two@x.com", status: SubscriberStatus.BOUNCED });
    expect(subscriber?.suppression?.campaignId).toBe("camp_1");
    const events = await publishedEvents(h.service, ws);
    expect(events.suppressed.map((event) => event.email)).toEqual(["Two@x.com"]);
  });

  it("after a manual removal ignores the old bounce redelivered but suppresses on a new one", async () => {
    const ws = uniqueName("ws");
    const body = sampleEmailEvent("email.bounced", { emailId: "old", to: ["back@x.com"], bounce: hard, createdAt: at(5) });
    const old = await publishResendEvent(js(), ws, body);
    await waitIdle(h.service);
    const removed = await h.client.removeSuppression({ workspaceId: ws, email: "back@x.com", actor: "ops@acme", note: "mailbox fixed" });
    expect(removed.changed).toBe(true);
    expect(removed.removed?.reason).toBe(SuppressionReason.BOUNCED);

    await publishResendEvent(js(), ws, body, { svixId: old.svixId, useMsgId: false });
    await waitIdle(h.service);
    expect(await suppressedOf(ws, ["back@x.com"])).toEqual([false]);

    await publishResendEvent(js(), ws, sampleEmailEvent("email.bounced", { emailId: "new", to: ["back@x.com"], bounce: hard, createdAt: new Date(Date.now() + 1000) }));
    await waitIdle(h.service);
    expect(await suppressedOf(ws, ["back@x.com"])).toEqual([true]);
    const { subscriber } = await h.client.getSubscriber({ workspaceId: ws, subscriber: { case: "email", value: "back@x.com" } });
    expect(subscriber?.history.map((entry) => [entry.kind, entry.actor])).toEqual([
      [1, ""],
      [2, "ops@acme"],
      [1, ""],
    ]);
    await waitFor(async () => {
      const events = await publishedEvents(h.service, ws);
      return events.suppressed.length === 2 && events.unsuppressed.length === 1 ? events : undefined;
    }, { what: "suppressed, unsuppressed, suppressed" });
    const events = await publishedEvents(h.service, ws);
    expect(events.unsuppressed[0]).toMatchObject({ actor: "ops@acme", note: "mailbox fixed", previousReason: SuppressionReason.BOUNCED });
    expect(new Set(events.msgIds).size).toBe(3);
  });

  it("never shows one workspace's suppression to another", async () => {
    const ws = uniqueName("ws");
    const other = uniqueName("ws");
    await publishResendEvent(js(), ws, sampleEmailEvent("email.bounced", { emailId: "iso", to: ["iso@x.com"], bounce: hard }));
    await waitIdle(h.service);
    expect(await suppressedOf(ws, ["iso@x.com"])).toEqual([true]);
    expect(await suppressedOf(other, ["iso@x.com"])).toEqual([false]);
    await expect(h.client.getSubscriber({ workspaceId: other, subscriber: { case: "email", value: "iso@x.com" } })).rejects.toThrow(/not found/);
    expect((await h.client.listSuppressions({ workspaceId: other })).suppressions).toEqual([]);
    expect((await publishedEvents(h.service, other)).suppressed).toEqual([]);
  });
});
