/**
 * delivery-status's part of an erasure, end to end: ErasureRequested published on
 * `erasure.<ws>.requested` as the suppression service publishes it, events published as the gateway
 * does, everything read back through the public API and, to be sure no copy is left, the stored
 * documents themselves.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeliveryStatusService, type Send, type SendEvent, type WatchSendsResponse } from "../../../gen/ngsreach/delivery/v1/delivery_status_pb.ts";
import { ErasureRequestedSchema, type ErasureRequested } from "../../../gen/ngsreach/events/v1/domain_events_pb.ts";
import { privateNats, testBaseConfig, uniqueName, waitFor } from "../../../test/harness.ts";
import { publishEmailEvent, type EmailEventOptions, type ProviderEventType } from "../../../test/support/provider-envelopes.ts";
import type { BaseConfig } from "../../shared/config.ts";
import { decodeErasureApplied, erasureAppliedSubject, erasureRequestedMessageId, erasureRequestedSubject } from "../../shared/erasure-events.ts";
import { createLogger } from "../../shared/log.ts";
import { connectNats, DOMAIN_EVENTS_STREAM } from "../../shared/nats.ts";
import { startService, type RunningService } from "../../shared/service-host.ts";
import { projectSend, type EventFact } from "../send-projection.ts";
import { SendsRepository, type StoredSend, type TimelineDetail } from "../sends-repository.ts";
import { deliveryStatusService } from "../service.ts";
import { eraseSubscriber } from "./erase-subscriber.ts";

const ann = { email: "Ann.Private@example.com", subscriberId: "sub-ann", ip: "203.0.113.77", userAgent: "AnnBrowser/1.0 (ann-laptop)" };
const bob = { email: "bob.keeps@example.com", subscriberId: "sub-bob", ip: "198.51.100.9", userAgent: "BobBrowser/2.0" };
const campaignId = "camp-erasure";
const annLink = `https://shop.example/sale?u=${encodeURIComponent(ann.email)}`;
const annPersonal = [ann.email, ann.ip, ann.userAgent, ann.subscriberId];

let config: BaseConfig;
let service: RunningService;
let api: Client<typeof DeliveryStatusService>;

async function start(): Promise<void> {
  // The full click IP address is kept, so a test can see it go.
  service = await startService(deliveryStatusService({ port: 0, outboxSweepMs: 1000, clickIp: "full" }), config);
  api = createClient(DeliveryStatusService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${service.port}` }));
}

beforeAll(async () => {
  config = testBaseConfig({ natsUrl: (await privateNats()).url });
  await start();
});
afterAll(async () => {
  await service?.stop();
});

const js = () => service.context.nats.js;
const db = () => service.context.mongo.db;
const asText = (value: unknown) => JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? String(v) : v));
const leaksOf = (value: unknown, personal: readonly string[]) => personal.filter((text) => asText(value).toLowerCase().includes(text.toLowerCase()));

const publish = (ws: string, messageId: string, type: ProviderEventType, options: Omit<EmailEventOptions, "messageId"> & { retryOf?: string }) =>
  publishEmailEvent(js(), ws, "resend", type, { messageId, ...options }, options.retryOf ? { eventId: options.retryOf, useMsgId: false } : undefined);

/**
 * Ann: a1 (registered; delivered, opened, clicked with her IP, user agent and address in the link, a soft
 * bounce naming her), a2 (registered with her address as given, padded and upper case, by a document
 * written before recipient keys: its key is removed), a3 (never registered: the events' `to` and tags
 * attribute it; a hard bounce names her in the diagnostic). Bob: b1, clicked.
 */
async function history(ws: string): Promise<{ clickSvixId: string }> {
  const at = (seconds: number) => new Date(Date.parse("2026-11-20T10:00:00Z") + seconds * 1000);
  await api.recordSend({ workspaceId: ws, emailId: "a1", campaignId, subscriberId: ann.subscriberId, recipient: ann.email });
  await api.recordSend({ workspaceId: ws, emailId: "a2", campaignId, subscriberId: ann.subscriberId, recipient: "  Ann.Private@EXAMPLE.COM " });
  await api.recordSend({ workspaceId: ws, emailId: "b1", campaignId, subscriberId: bob.subscriberId, recipient: bob.email });
  const to = [ann.email];
  await publish(ws, "a1", "email.delivered", { to, createdAt: at(1) });
  await publish(ws, "a1", "email.opened", { to, createdAt: at(2) });
  const click = await publish(ws, "a1", "email.clicked", { to, createdAt: at(3), click: { link: annLink, ipAddress: ann.ip, userAgent: ann.userAgent } });
  await publish(ws, "a1", "email.bounced", { to, createdAt: at(4), bounce: { type: "Transient", subType: "MailboxFull", message: `452 4.2.2 <${ann.email}> mailbox full` } });
  await publish(ws, "a2", "email.delivered", { to, createdAt: at(5) });
  const tags = { campaign_id: campaignId, subscriber_id: ann.subscriberId };
  await publish(ws, "a3", "email.sent", { to, tags, createdAt: at(6) });
  await publish(ws, "a3", "email.bounced", { to, tags, createdAt: at(7), bounce: { type: "Permanent", subType: "General", message: "no such user", diagnosticCode: "smtp; 550 5.1.1 ann.private@example.com unknown" } });
  await publish(ws, "b1", "email.clicked", { to: [bob.email], createdAt: at(8), click: { link: "https://shop.example/sale", ipAddress: bob.ip, userAgent: bob.userAgent } });
  await waitFor(async () => {
    const [a1, a2, a3, b1] = await Promise.all(["a1", "a2", "a3", "b1"].map((emailId) => api.getSend({ workspaceId: ws, emailId }).then((r) => r.send!)));
    return a1!.clickCount === 1 && a1!.softBounceCount === 1 && a1!.deliveredTime && a1!.firstOpenedTime && a2!.deliveredTime && a3!.bouncedTime && a3!.sentTime && b1!.clickCount === 1;
  }, { what: "the whole history applied" });
  await db().collection("delivery_sends").updateOne({ _id: `${ws}:a2` as never }, { $unset: { recipientKey: "" } });
  return { clickSvixId: click.svixId };
}

/** What the read APIs show of a send. */
async function viewOf(ws: string, emailId: string): Promise<{ send: Send; events: SendEvent[] }> {
  const send = (await api.getSend({ workspaceId: ws, emailId })).send!;
  const events = (await api.listSendEvents({ workspaceId: ws, emailId, pageSize: 500 })).events;
  return { send, events };
}

async function requestErasure(ws: string, subscriber: { emails?: string[]; subscriberId?: string }, options: { erasureId?: string; useMsgId?: boolean } = {}) {
  const request = create(ErasureRequestedSchema, {
    workspaceId: ws,
    erasureId: options.erasureId ?? randomUUID(),
    emails: subscriber.emails ?? [],
    subscriberId: subscriber.subscriberId ?? "",
    requestedTime: timestampNow(),
  });
  const ack = await js().publish(erasureRequestedSubject(ws), toBinary(ErasureRequestedSchema, request), {
    msgID: options.useMsgId === false ? undefined : erasureRequestedMessageId(request.erasureId),
  });
  return { request, seq: ack.seq };
}

/** The ErasureApplied the service answered the request with. */
async function answerTo(request: ErasureRequested) {
  return await waitFor(async () => {
    const message = await service.context.nats.jsm.streams.getMessage(DOMAIN_EVENTS_STREAM, { last_by_subj: erasureAppliedSubject(request.workspaceId) });
    if (!message) return undefined;
    const applied = decodeErasureApplied(message.data, message.subject);
    return applied.erasureId === request.erasureId ? applied : undefined;
  }, { what: "ErasureApplied" });
}

/** Every stored document of the workspace's sends and timelines, as text, by collection and id. */
async function storedDocuments(ws: string): Promise<Map<string, string>> {
  const documents = new Map<string, string>();
  for (const name of ["delivery_sends", "delivery_timeline", "delivery_timeline_pages"]) {
    for (const doc of await db().collection(name).find({ workspaceId: ws }).toArray()) documents.set(`${name}:${String(doc._id)}`, asText(doc));
  }
  return documents;
}

const mentioning = (documents: Map<string, string>, personal: readonly string[]) =>
  [...documents].filter(([, text]) => personal.some((value) => text.toLowerCase().includes(value.toLowerCase()))).map(([id]) => id);

const erasedSendView = (send: Send) => ({ ...send, recipient: "", subscriberId: "" });

describe("erasing a subscriber in delivery status", () => {
  it("leaves no address, IP or user agent in any read API or document, keeps statuses, times and counts, and answers", async () => {
    const ws = uniqueName("ws");
    await history(ws);
    const before = Object.fromEntries(await Promise.all(["a1", "a2", "a3", "b1"].map(async (emailId) => [emailId, await viewOf(ws, emailId)] as const)));
    const watched: WatchSendsResponse[] = [];
    const watching = new AbortController();
    const watch = (async () => {
      for await (const change of api.watchSends({ workspaceId: ws }, { signal: watching.signal })) watched.push(change);
    })().catch(() => undefined);

    // By address alone: a2's document, written before recipient keys, is found by its recipient as given.
    const { request } = await requestErasure(ws, { emails: [ann.email] });
    const applied = await answerTo(request);
    // Three sends, a1's click and soft bounce entries, a3's hard bounce entry.
    expect([applied.service, applied.documents]).toEqual(["delivery-status", 6]);

    const after = Object.fromEntries(await Promise.all(["a1", "a2", "a3", "b1"].map(async (emailId) => [emailId, await viewOf(ws, emailId)] as const)));
    const [a1, a2, a3] = [before.a1!, before.a2!, before.a3!];
    expect(after.a1!.send).toEqual({ ...erasedSendView(a1.send), lastSoftBounce: { ...a1.send.lastSoftBounce, message: "452 4.2.2 <[erased]> mailbox full" } });
    expect(after.a2!.send).toEqual(erasedSendView(a2.send));
    expect(after.a3!.send).toEqual({ ...erasedSendView(a3.send), bounce: { ...a3.send.bounce, diagnosticCode: "smtp; 550 5.1.1 [erased] unknown" } });
    expect(after.a1!.events).toEqual(
      a1.events.map((event) => {
        if (event.detail.case === "click") return { ...event, detail: { case: "click", value: { ...event.detail.value, link: "https://shop.example/sale?u=[erased]", ipAddress: "", userAgent: "" } } };
        if (event.detail.case === "bounce") return { ...event, detail: { case: "bounce", value: { ...event.detail.value, message: "452 4.2.2 <[erased]> mailbox full" } } };
        return event;
      }),
    );
    expect(after.a2!.events).toEqual(a2.events);
    expect(after.a3!.events.map((event) => [event.svixId, event.type, event.eventTime])).toEqual(a3.events.map((event) => [event.svixId, event.type, event.eventTime]));
    expect(after.b1).toEqual(before.b1);

    const listed = (await api.listSends({ workspaceId: ws, campaignId, pageSize: 10 })).sends;
    expect(listed).toEqual([after.a1!.send, after.a2!.send, after.a3!.send, after.b1!.send]);
    const exported = [];
    for (const subscriber of [{ case: "recipient", value: ann.email }, { case: "subscriberId", value: ann.subscriberId }] as const) {
      for await (const message of api.listSubscriberSends({ workspaceId: ws, subscriber })) exported.push(message);
    }
    expect(exported).toEqual([]);
    expect(leaksOf([after, listed], annPersonal)).toEqual([]);

    await waitFor(() => ["a1", "a2", "a3"].every((emailId) => watched.some((change) => change.send?.emailId === emailId)), { what: "the erasures announced" });
    watching.abort();
    await watch;
    expect(leaksOf(watched, annPersonal)).toEqual([]);

    const stored = await storedDocuments(ws);
    expect(mentioning(stored, annPersonal)).toEqual([]);
    expect(mentioning(stored, [bob.email, bob.ip, bob.userAgent]).length).toBeGreaterThan(0);
  });

  it("changes nothing on a second delivery of the same request", async () => {
    const ws = uniqueName("ws");
    await history(ws);
    const { request } = await requestErasure(ws, { emails: [ann.email], subscriberId: ann.subscriberId });
    await answerTo(request);
    const once = await storedDocuments(ws);

    // Past the duplicate window: stored again, delivered again.
    const { seq } = await requestErasure(ws, { emails: [ann.email], subscriberId: ann.subscriberId }, { erasureId: request.erasureId, useMsgId: false });
    await waitFor(async () => {
      const info = await service.context.nats.jsm.consumers.info(DOMAIN_EVENTS_STREAM, "delivery-status-erasures");
      return info.ack_floor.stream_seq >= seq && info.num_ack_pending === 0;
    }, { what: "the second delivery acked" });
    expect(await storedDocuments(ws)).toEqual(once);
  });

  it("stores an event arriving after the erasure without IP, user agent or address, and a repeated registration without the address", async () => {
    const ws = uniqueName("ws");
    const { clickSvixId } = await history(ws);
    const { request } = await requestErasure(ws, { emails: [ann.email], subscriberId: ann.subscriberId });
    await answerTo(request);

    const to = [ann.email];
    const tags = { campaign_id: campaignId, subscriber_id: ann.subscriberId };
    await publish(ws, "a1", "email.clicked", { to, click: { link: annLink, ipAddress: ann.ip, userAgent: ann.userAgent } });
    await publish(ws, "a1", "email.clicked", { to, click: { link: annLink, ipAddress: ann.ip, userAgent: ann.userAgent }, retryOf: clickSvixId });
    await publish(ws, "a3", "email.failed", { to, tags, failedReason: `rejected ${ann.email.toLowerCase()}` });
    await waitFor(async () => (await api.getSend({ workspaceId: ws, emailId: "a1" })).send!.clickCount === 2, { what: "the late click" });
    await waitFor(async () => (await api.getSend({ workspaceId: ws, emailId: "a3" })).send!.failedTime, { what: "the late failure" });
    const clicks = (await viewOf(ws, "a1")).events.filter((event) => event.detail.case === "click");
    expect(clicks.map((event) => event.detail.value)).toMatchObject([
      { link: "https://shop.example/sale?u=[erased]", ipAddress: "", userAgent: "" },
      { link: "https://shop.example/sale?u=[erased]", ipAddress: "", userAgent: "" },
    ]);
    expect((await api.getSend({ workspaceId: ws, emailId: "a3" })).send!.failureReason).toBe("rejected [erased]");

    const repeat = await api.recordSend({ workspaceId: ws, emailId: "a1", campaignId, subscriberId: ann.subscriberId, recipient: ann.email });
    expect([repeat.created, repeat.send!.recipient, repeat.send!.subscriberId]).toEqual([false, "", ""]);
    const first = await api.recordSend({ workspaceId: ws, emailId: "a3", campaignId, subscriberId: ann.subscriberId, recipient: ann.email });
    expect([first.created, first.send!.recipient, first.send!.subscriberId, first.send!.attributed]).toEqual([true, "", "", true]);
    const other = await api.recordSend({ workspaceId: ws, emailId: "a1", campaignId: "another", subscriberId: ann.subscriberId, recipient: ann.email }).catch((error: unknown) => ConnectError.from(error).code);
    expect(other).toBe(Code.AlreadyExists);

    const views = await Promise.all(["a1", "a2", "a3"].map((emailId) => viewOf(ws, emailId)));
    expect(leaksOf(views, annPersonal)).toEqual([]);
    expect(mentioning(await storedDocuments(ws), annPersonal)).toEqual([]);
  });

  it("erases by subscriber id alone, the sends' own addresses included", async () => {
    const ws = uniqueName("ws");
    await history(ws);
    const bobBefore = await viewOf(ws, "b1");
    const { request } = await requestErasure(ws, { subscriberId: ann.subscriberId });
    expect((await answerTo(request)).documents).toBe(6);
    const views = await Promise.all(["a1", "a2", "a3"].map((emailId) => viewOf(ws, emailId)));
    expect(views.map(({ send }) => [send.recipient, send.subscriberId, send.campaignId])).toEqual([
      ["", "", campaignId],
      ["", "", campaignId],
      ["", "", campaignId],
    ]);
    expect(leaksOf(views, annPersonal)).toEqual([]);
    expect(mentioning(await storedDocuments(ws), annPersonal)).toEqual([]);
    expect(await viewOf(ws, "b1")).toEqual(bobBefore);
  });

  it("finishes on the next delivery what a crash in the middle left", async () => {
    const ws = uniqueName("ws");
    await history(ws);
    const request = create(ErasureRequestedSchema, { workspaceId: ws, erasureId: randomUUID(), emails: [ann.email] });
    // The process dies while rewriting the second send's timeline.
    let timelineWrites = 0;
    class CrashingRepository extends SendsRepository {
      override async setTimelineDetails(workspaceId: string, emailId: string, updates: readonly { svixId: string; detail: TimelineDetail }[]): Promise<number> {
        if (updates.length > 0 && ++timelineWrites === 2) throw new Error("crashed");
        return await super.setTimelineDetails(workspaceId, emailId, updates);
      }
    }
    const deps = { repo: new CrashingRepository(db()), notify: () => {}, now: Date.now };
    await expect(eraseSubscriber(deps, request)).rejects.toThrow("crashed");
    expect(mentioning(await storedDocuments(ws), annPersonal).length).toBeGreaterThan(0);

    const documents = await eraseSubscriber({ ...deps, repo: new SendsRepository(db()) }, request);
    expect(documents).toBeGreaterThan(0);
    expect(mentioning(await storedDocuments(ws), annPersonal)).toEqual([]);
    expect(await eraseSubscriber({ ...deps, repo: new SendsRepository(db()) }, request)).toBe(0);
  });

  it("loses no event another instance applies during the erasure, and lets it bring nothing back", async () => {
    const ws = uniqueName("ws");
    await history(ws);
    const request = create(ErasureRequestedSchema, { workspaceId: ws, erasureId: randomUUID(), emails: [ann.email] });
    const other = new SendsRepository(db());
    /** After the erasure read a1: another instance (no shared lock) stores a click with Ann's data. */
    const applyOnAnotherInstance = async (send: StoredSend) => {
      const current = (await other.get(ws, send.emailId))!;
      const fact: EventFact = { svixId: "msg_other_instance", kind: "clicked", atUs: Date.now() * 1000, soleRecipient: ann.email, subscriberTag: ann.subscriberId };
      await other.putTimelineEntry({ workspaceId: ws, emailId: send.emailId, svixId: fact.svixId, type: "email.clicked", eventAtUs: fact.atUs, receivedAtUs: fact.atUs, click: { link: annLink, ipAddress: ann.ip, userAgent: ann.userAgent } });
      const facts = [...current.facts, fact];
      const next = { ...current, version: current.version + 1, facts, state: projectSend(current.registration, facts, current.retired), updatedAtMs: Date.now() };
      expect(await other.writeMany([{ send: next, expectedVersion: current.version, markSendRecordedPending: false }])).toBe(true);
    };
    let interleaved = false;
    class InterleavedRepository extends SendsRepository {
      override async timelineRefs(send: StoredSend) {
        if (send.emailId === "a1" && !interleaved) {
          interleaved = true;
          await applyOnAnotherInstance(send);
        }
        return await super.timelineRefs(send);
      }
    }
    await eraseSubscriber({ repo: new InterleavedRepository(db()), notify: () => {}, now: Date.now }, request);
    expect(interleaved).toBe(true);
    const { send, events } = await viewOf(ws, "a1");
    expect([send.clickCount, send.recipient, send.subscriberId]).toEqual([2, "", ""]);
    expect(events.map((event) => event.svixId)).toContain("msg_other_instance");
    expect(mentioning(await storedDocuments(ws), annPersonal)).toEqual([]);
  });

  // Last: it restarts the service the other tests use.
  it("applies a request published while the service was stopped once it starts", async () => {
    const ws = uniqueName("ws");
    await history(ws);
    await service.stop();
    const nats = await connectNats(config.natsUrl, "erasure-test", createLogger({}, "error"));
    const request = create(ErasureRequestedSchema, { workspaceId: ws, erasureId: randomUUID(), emails: [ann.email], requestedTime: timestampNow() });
    try {
      await nats.js.publish(erasureRequestedSubject(ws), toBinary(ErasureRequestedSchema, request), { msgID: erasureRequestedMessageId(request.erasureId) });
    } finally {
      await nats.nc.close();
    }
    await start();
    expect((await answerTo(request)).service).toBe("delivery-status");
    const views = await Promise.all(["a1", "a2", "a3"].map((emailId) => viewOf(ws, emailId)));
    expect(leaksOf(views, annPersonal)).toEqual([]);
  });
});
