/**
 * Reconstructed events (issue 16) end to end against real NATS and FerretDB: what a reconciliation
 * publishes suppresses like the webhook it stands in for, and the real webhook arriving as well is
 * neither counted twice nor announced again.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SuppressionReason, SuppressionSource } from "../../gen/ngsreach/events/v1/domain_events_pb.ts";
import { SubscriberStatus } from "../../gen/ngsreach/suppression/v1/suppression_pb.ts";
import { sampleEmailEvent } from "../../cli/resend-samples.ts";
import { privateNats, testBaseConfig, uniqueName } from "../../test/harness.ts";
import { publishResendEvent } from "../../test/publish-events.ts";
import { publishEnvelope } from "../../test/support/provider-envelopes.ts";
import { publishedEvents, publishSendRecorded, startSuppression, waitIdle, type Harness } from "../../test/support/suppression-service.ts";
import { reconstructedEvent, reconstructedSvixId } from "../shared/reconstructed-events.ts";

let h: Harness;
beforeAll(async () => {
  const nats = await privateNats();
  h = await startSuppression(testBaseConfig({ natsUrl: nats.url }));
});
afterAll(async () => h?.service.stop());

const js = () => h.service.context.nats.js;
const hard = { type: "Permanent", subType: "General", message: "" };
const soft = { type: "Transient", subType: "MailboxFull", message: "" };
const minutesAgo = (minutes: number) => Date.now() - minutes * 60_000;

/** Publishes what a reconciliation run publishes for one email; `useMsgId: false` is a copy past the duplicate window. */
async function publishReconstructed(
  workspaceId: string,
  input: { emailId: string; type: string; sentAtMs: number; to: string[]; bounce?: typeof hard },
  useMsgId = true,
) {
  const envelope = reconstructedEvent({ workspaceId, observedAtMs: Date.now(), reconciliationId: "rec_1", ...input });
  await publishEnvelope(js(), envelope, { useMsgId });
}
/** Publishes the real webhook of an email event, dated `atMs`. */
const publishReal = (workspaceId: string, type: string, emailId: string, to: string[], atMs: number, bounce?: typeof hard) =>
  publishResendEvent(js(), workspaceId, sampleEmailEvent(type, { emailId, to, createdAt: new Date(atMs), ...(bounce ? { bounce } : {}) }));

const subscriberOf = async (workspaceId: string, email: string) =>
  (await h.client.getSubscriber({ workspaceId, subscriber: { case: "email", value: email } })).subscriber;
const suppressedOf = async (workspaceId: string, email: string) =>
  (await h.client.checkSuppressions({ workspaceId, emails: [email] })).results[0]?.suppressed;

describe("the suppression service, fed reconstructed events", () => {
  it("suppresses on a reconstructed hard bounce and announces it once; the real bounce after it announces nothing", async () => {
    const ws = uniqueName("ws");
    const input = { emailId: "e1", type: "email.bounced", sentAtMs: minutesAgo(10), to: ["Lost@x.com"], bounce: hard };
    await publishReconstructed(ws, input);
    await publishReconstructed(ws, input, false);
    await waitIdle(h.service);
    const standIn = reconstructedSvixId("e1", "email.bounced");
    expect(await subscriberOf(ws, "Lost@x.com")).toMatchObject({
      status: SubscriberStatus.BOUNCED,
      suppression: { reason: SuppressionReason.BOUNCED, source: SuppressionSource.EVENT, svixId: standIn, emailId: "e1", detail: "General" },
    });
    const announced = await publishedEvents(h.service, ws);
    expect(announced.suppressed.map((event) => [event.reason, event.svixId])).toEqual([[SuppressionReason.BOUNCED, standIn]]);

    const real = await publishReal(ws, "email.bounced", "e1", ["Lost@x.com"], minutesAgo(9), hard);
    await waitIdle(h.service);
    const after = await subscriberOf(ws, "Lost@x.com");
    // Still bounced; the record now names the real bounce, which is what no longer announces.
    expect(after).toMatchObject({ status: SubscriberStatus.BOUNCED, suppression: { reason: SuppressionReason.BOUNCED, svixId: real.svixId } });
    expect(after?.history.map((entry) => [entry.kind, entry.svixId])).toEqual([[1, standIn]]);
    const events = await publishedEvents(h.service, ws);
    expect([events.suppressed.length, events.unsuppressed.length]).toEqual([1, 0]);
  });

  it.each([
    ["the real one first", true],
    ["the reconstructed one first", false],
  ])("counts a reconstructed soft bounce and the real one of the same email once (%s): with one other, limit 3 is not reached; with a third email's, it is", async (_order, realFirst) => {
    const ws = uniqueName("ws");
    const to = ["soft@x.com"];
    const real = () => publishReal(ws, "email.bounced", "s1", to, minutesAgo(39), soft);
    const reconstructed = () => publishReconstructed(ws, { emailId: "s1", type: "email.bounced", sentAtMs: minutesAgo(40), to, bounce: soft });
    await (realFirst ? real() : reconstructed());
    await waitIdle(h.service);
    await (realFirst ? reconstructed() : real());
    await publishReal(ws, "email.bounced", "s2", to, minutesAgo(30), soft);
    await waitIdle(h.service);
    expect(await suppressedOf(ws, "soft@x.com")).toBe(false);
    expect((await subscriberOf(ws, "soft@x.com"))?.softBounceCount).toBe(2);

    await publishReal(ws, "email.bounced", "s3", to, minutesAgo(20), soft);
    await waitIdle(h.service);
    expect(await subscriberOf(ws, "soft@x.com")).toMatchObject({
      status: SubscriberStatus.BOUNCED,
      suppression: { reason: SuppressionReason.SOFT_BOUNCE_POLICY, emailId: "s3" },
    });
    expect((await publishedEvents(h.service, ws)).suppressed).toHaveLength(1);
  });

  it("still knows a reconstructed soft bounce as one once it waited for its multi-recipient email's send record", async () => {
    const ws = uniqueName("ws");
    const to = ["multi@x.com", "other@x.com"];
    await publishReconstructed(ws, { emailId: "m1", type: "email.bounced", sentAtMs: minutesAgo(40), to, bounce: soft });
    await publishReal(ws, "email.bounced", "m1", to, minutesAgo(39), soft);
    await publishReal(ws, "email.bounced", "m2", ["multi@x.com"], minutesAgo(30), soft);
    await waitIdle(h.service);
    await publishSendRecorded(h.service, { workspaceId: ws, emailId: "m1", campaignId: "c1", subscriberId: "sub_m", recipient: "multi@x.com" });
    await waitIdle(h.service);
    expect(await suppressedOf(ws, "multi@x.com")).toBe(false);
    expect((await subscriberOf(ws, "multi@x.com"))?.softBounceCount).toBe(2);
  });
});
