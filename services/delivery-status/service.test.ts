import { create, fromBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeliveryStatusService, SendStatus, type WatchSendsResponse } from "../../gen/ngsreach/delivery/v1/delivery_status_pb.ts";
import { SendRecordedSchema } from "../../gen/ngsreach/events/v1/domain_events_pb.ts";
import { Provider as ApiProvider } from "../../gen/ngsreach/events/v1/provider_pb.ts";
import { ResendEventSchema } from "../../gen/ngsreach/events/v1/resend_event_pb.ts";
import { sampleEmailEvent, type EmailEventType, type SampleOptions } from "../../cli/resend-samples.ts";
import { privateNats, testBaseConfig, uniqueName, waitFor } from "../../test/harness.ts";
import { publishResendEvent } from "../../test/publish-events.ts";
import { emailEnvelope, providerTypeOf, publishEnvelope, type EnvelopeOptions, type ProviderEventType } from "../../test/support/provider-envelopes.ts";
import { randomUUID } from "node:crypto";
import { emailIdOf, providerToApi, type Provider } from "../shared/providers.ts";
import { toBinary } from "@bufbuild/protobuf";
import { deadLetterHeaders } from "../shared/consumer.ts";
import { DEAD_LETTERS_STREAM, DOMAIN_EVENTS_STREAM } from "../shared/nats.ts";
import { startService, type RunningService } from "../shared/service-host.ts";
import { consumerName } from "./consumer.ts";
import { deliveryStatusService } from "./service.ts";

const t0 = Date.parse("2026-11-20T10:00:00.000Z");
const at = (seconds: number) => new Date(t0 + seconds * 1000);

describe("the delivery status service, end to end through JetStream", () => {
  let instanceA: RunningService;
  let instanceB: RunningService;
  let api: Client<typeof DeliveryStatusService>;
  let apiB: Client<typeof DeliveryStatusService>;

  beforeAll(async () => {
    const nats = await privateNats();
    const config = testBaseConfig({ natsUrl: nats.url });
    // Two instances on one database and one NATS, like two replicas.
    instanceA = await startService(deliveryStatusService({ port: 0, outboxSweepMs: 1000 }), config);
    instanceB = await startService(deliveryStatusService({ port: 0, outboxSweepMs: 1000 }), config);
    api = createClient(DeliveryStatusService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${instanceA.port}` }));
    apiB = createClient(DeliveryStatusService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${instanceB.port}` }));
  });
  afterAll(async () => {
    await instanceA?.stop();
    await instanceB?.stop();
  });

  const js = () => instanceA.context.nats.js;
  const publish = (ws: string, emailId: string, type: EmailEventType, seconds: number, options: SampleOptions & { svixId?: string } = {}) =>
    publishResendEvent(js(), ws, sampleEmailEvent(type, { emailId, createdAt: at(seconds), to: ["ann@example.com"], ...options }), {
      svixId: options.svixId,
      useMsgId: false, // as if every copy arrived after the duplicate window: only the consumer's own dedupe helps
    });
  const getSend = (ws: string, emailId: string) => api.getSend({ workspaceId: ws, emailId }).then((r) => r.send!);
  const codeOf = async (call: Promise<unknown>) => call.then(() => "ok", (error) => `${Code[ConnectError.from(error).code]}: ${ConnectError.from(error).rawMessage}`);

  /** Publishes an event of `provider` about its message `messageId`; the send is `emailIdOf(provider, messageId)`. */
  const publishAs = async (provider: Provider, ws: string, messageId: string, type: ProviderEventType, seconds: number, options: EnvelopeOptions & { eventId?: string } = {}) => {
    const eventId = options.eventId ?? randomUUID();
    await publishEnvelope(js(), emailEnvelope(provider, ws, type, { eventId, messageId }, { createdAt: at(seconds), to: ["ann@example.com"], ...options }), { useMsgId: false });
    return eventId;
  };

  for (const provider of ["resend", "sendgrid"] as const) {
    it(`applies every email event type, and an out-of-order history ends as its latest rules say (${provider})`, async () => {
      const ws = uniqueName("ws");
      const publish = (messageId: string, type: ProviderEventType, seconds: number, options: EnvelopeOptions = {}) => publishAs(provider, ws, messageId, type, seconds, options);
      const send = (messageId: string) => getSend(ws, emailIdOf(provider, messageId));
      await publish("e1", "email.clicked", 40, { click: { link: "https://example.com/x", ipAddress: "10.0.0.1" } });
      await publish("e1", "email.opened", 30);
      await publish("e1", "email.delivery_delayed", 5);
      await publish("e1", "email.bounced", 50, { bounce: { type: "Transient", subType: "MailboxFull", message: "full" } });
      await publish("e1", "email.delivered", 10);
      await publish("e1", "email.sent", 0);
      await publish("e2", "email.failed", 3, { failedReason: "reached_daily_quota" });
      await publish("e3", "email.suppressed", 4);
      await publish("e4", "email.delivered", 1);
      await publish("e4", "email.complained", 60);
      await publish("e4", "email.bounced", 70, { bounce: { type: "Permanent", subType: "General", message: "gone" } });
      await publish("e5", "email.bounced", 2, { bounce: { type: "Permanent", subType: "NoEmail", message: "no such user", diagnosticCode: "550 5.1.1" } });

      const e1 = await waitFor(async () => {
        const found = await send("e1").catch(() => undefined);
        // Every one of the six, however the consumer split them into batches (CI once read it before the delay).
        return found?.softBounceCount === 1 && found.sentTime && found.deliveredTime && found.deliveryDelayedTime && found.firstOpenedTime && found.firstClickedTime ? found : undefined;
      }, { what: "all six events of e1" });
      expect(e1.emailId).toBe(emailIdOf(provider, "e1"));
      expect(e1.provider).toBe(providerToApi(provider));
      expect(e1.status).toBe(SendStatus.CLICKED);
      expect(e1.attributed).toBe(false);
      expect(e1.recipient).toBe("ann@example.com");
      expect(e1.deliveryDelayedTime).toEqual(timestampFromMs(t0 + 5000));
      expect(e1.firstOpenedTime).toEqual(timestampFromMs(t0 + 30_000));
      expect(e1.firstClickedTime).toEqual(timestampFromMs(t0 + 40_000));
      expect(e1.lastSoftBounce?.subType).toBe("MailboxFull");
      expect(e1.lastEventTime).toEqual(timestampFromMs(t0 + 50_000));
      expect([e1.openCount, e1.clickCount]).toEqual([1, 1]);

      const timeline = await api.listSendEvents({ workspaceId: ws, emailId: e1.emailId, pageSize: 4 });
      const firstTypes = ["email.sent", "email.delivery_delayed", "email.delivered", "email.opened"] as const;
      expect(timeline.events.map((event) => event.type)).toEqual(firstTypes);
      expect(timeline.events.map((event) => event.providerType)).toEqual(firstTypes.map((type) => providerTypeOf(provider, type)));
      const rest = await api.listSendEvents({ workspaceId: ws, emailId: e1.emailId, pageSize: 4, pageToken: timeline.nextPageToken });
      expect(rest.events.map((event) => event.type)).toEqual(["email.clicked", "email.bounced"]);
      expect(rest.nextPageToken).toBe("");
      // The click's IP address is stored truncated to its /24 by default (STORE_CLICK_IP, click-ip.ts).
      expect(rest.events[0]!.detail).toMatchObject({ case: "click", value: { link: "https://example.com/x", ipAddress: "10.0.0.0" } });

      await waitFor(async () => (await send("e5").catch(() => undefined))?.status === SendStatus.BOUNCED, { what: "e5" });
      const [e2, e3, e4, e5] = await Promise.all(["e2", "e3", "e4", "e5"].map(send));
      expect([e2!.status, e2!.failureReason]).toEqual([SendStatus.FAILED, "reached_daily_quota"]);
      // Resend names its suppression list; another provider's drop is shown by its own type.
      expect([e3!.status, e3!.suppression?.type]).toEqual([SendStatus.SUPPRESSED, provider === "resend" ? "OnAccountSuppressionList" : "dropped"]);
      await waitFor(async () => (await send("e4")).lastEventTime?.seconds === timestampFromMs(t0 + 70_000).seconds, { what: "e4" });
      expect((await send("e4")).status).toBe(SendStatus.COMPLAINED);
      expect(e5!.bounce).toMatchObject({ type: "Permanent", subType: "NoEmail", message: "no such user", diagnosticCode: "550 5.1.1" });
      expect(e5!.bouncedTime).toEqual(timestampFromMs(t0 + 2000));
    });
  }

  it("shows an unsubscribe in the timeline and as unsubscribed_time, first time kept, once per event, with no status change", async () => {
    const ws = uniqueName("ws");
    const eventId = await publishAs("sendgrid", ws, "u1", "email.unsubscribed", 40);
    await publishAs("sendgrid", ws, "u1", "email.unsubscribed", 40, { eventId }); // a redelivery
    await publishAs("sendgrid", ws, "u1", "email.opened", 20);
    await publishAs("sendgrid", ws, "u1", "email.unsubscribed", 30, { providerType: "group_unsubscribe" }); // earlier, arriving later
    await publishAs("sendgrid", ws, "u1", "email.delivered", 10);
    const u1 = await waitFor(async () => {
      const send = await getSend(ws, "sendgrid:u1").catch(() => undefined);
      return send?.deliveredTime && send.unsubscribedTime?.seconds === timestampFromMs(t0 + 30_000).seconds ? send : undefined;
    }, { what: "both unsubscribes and the delivery" });
    await waitFor(async () => (await instanceA.context.nats.jsm.consumers.info("RESEND_EVENTS", consumerName)).num_pending === 0);
    expect(u1.status).toBe(SendStatus.OPENED);
    expect(u1.unsubscribedTime).toEqual(timestampFromMs(t0 + 30_000));
    expect(u1.lastEventTime).toEqual(timestampFromMs(t0 + 40_000));
    const events = (await api.listSendEvents({ workspaceId: ws, emailId: "sendgrid:u1" })).events;
    expect(events.map((event) => [event.type, event.providerType])).toEqual([
      ["email.delivered", "delivered"],
      ["email.opened", "open"],
      ["email.unsubscribed", "group_unsubscribe"],
      ["email.unsubscribed", "unsubscribe"],
    ]);
  });

  it("keeps a bounce's provider classification and SMTP status in the timeline", async () => {
    const ws = uniqueName("ws");
    await publishAs("sendgrid", ws, "b1", "email.bounced", 5, {
      bounce: { type: "Transient", subType: "General", message: "450 mailbox busy", diagnosticCode: "450 4.2.1 try later" },
      bounceProviderType: "blocked",
      smtpStatus: "4.2.1",
    });
    await publishAs("sendgrid", ws, "b1", "email.bounced", 9, { bounce: { type: "Permanent", subType: "General", message: "no such user" }, bounceProviderType: "bounce", smtpStatus: "5.1.1" });
    const b1 = await waitFor(async () => {
      const send = await getSend(ws, "sendgrid:b1").catch(() => undefined);
      return send?.status === SendStatus.BOUNCED && send.softBounceCount === 1 ? send : undefined;
    }, { what: "both bounces" });
    expect(b1.bounce).toMatchObject({ type: "Permanent", providerType: "bounce", smtpStatus: "5.1.1" });
    expect(b1.lastSoftBounce).toMatchObject({ type: "Transient", providerType: "blocked", smtpStatus: "4.2.1" });
    const events = (await api.listSendEvents({ workspaceId: ws, emailId: "sendgrid:b1" })).events;
    expect(events.map((event) => event.detail.case === "bounce" && [event.providerType, event.detail.value.providerType, event.detail.value.smtpStatus])).toEqual([
      ["bounce", "blocked", "4.2.1"],
      ["bounce", "bounce", "5.1.1"],
    ]);
    expect(events[0]!.detail.value).toMatchObject({ type: "Transient", diagnosticCode: "450 4.2.1 try later" });
  });

  it("keeps one timeline entry when the same svix id arrives many times", async () => {
    const ws = uniqueName("ws");
    await Promise.all(Array.from({ length: 8 }, () => publish(ws, "d1", "email.opened", 5, { svixId: "msg_same" })));
    await publish(ws, "d1", "email.delivered", 1);
    await waitFor(async () => (await getSend(ws, "d1").catch(() => undefined))?.deliveredTime, { what: "the marker event" });
    await waitFor(async () => (await instanceA.context.nats.jsm.consumers.info("RESEND_EVENTS", consumerName)).num_pending === 0);
    expect((await getSend(ws, "d1")).openCount).toBe(1);
    expect((await api.listSendEvents({ workspaceId: ws, emailId: "d1" })).events).toHaveLength(2);
  });

  it("registers a send once, applies earlier events, rejects a conflicting registration and publishes SendRecorded", async () => {
    const ws = uniqueName("ws");
    await publish(ws, "r1", "email.delivered", 10, { tags: { campaign_id: "from-tag" } });
    await waitFor(async () => (await getSend(ws, "r1").catch(() => undefined))?.campaignId === "from-tag");
    const request = { workspaceId: ws, emailId: "r1", campaignId: "camp", subscriberId: "sub", recipient: "Ann@Example.com", sentTime: timestampFromMs(t0) };
    const first = await api.recordSend(request);
    expect(first.created).toBe(true);
    expect(first.send).toMatchObject({ attributed: true, campaignId: "camp", status: SendStatus.DELIVERED });
    const again = await apiB.recordSend({ ...request, recipient: " Ann@example.COM " });
    expect(again.created).toBe(false);
    expect(await codeOf(api.recordSend({ ...request, subscriberId: "other" }))).toMatch(/^AlreadyExists/);

    const subject = `sends.${ws}.recorded`;
    await waitFor(async () => {
      const info = await instanceA.context.nats.jsm.streams.info(DOMAIN_EVENTS_STREAM, { subjects_filter: subject });
      return info.state.subjects?.[subject] === 1;
    }, { what: "one SendRecorded" });
    const message = await instanceA.context.nats.jsm.streams.getMessage(DOMAIN_EVENTS_STREAM, { last_by_subj: subject });
    const recorded = fromBinary(SendRecordedSchema, message!.data);
    expect(recorded).toMatchObject({ workspaceId: ws, emailId: "r1", campaignId: "camp", subscriberId: "sub", recipient: "Ann@Example.com" });
    expect(recorded.sentTime).toEqual(timestampFromMs(t0));
  });

  it("registers a Mailgun send by its id in angle brackets, joins the events that arrived first, and publishes it as Mailgun's", async () => {
    const ws = uniqueName("ws");
    await publishAs("mailgun", ws, "id@mg.example", "email.delivered", 10, { providerType: "delivered" });
    await publishAs("mailgun", ws, "id@mg.example", "email.opened", 20, { providerType: "opened" });
    await waitFor(async () => (await getSend(ws, "mailgun:id@mg.example").catch(() => undefined))?.openCount === 1, { what: "the events before RecordSend" });
    const request = { workspaceId: ws, emailId: "<id@mg.example>", provider: ApiProvider.MAILGUN, campaignId: "camp", subscriberId: "sub", recipient: "ann@example.com" };
    const { send, created } = await api.recordSend(request);
    expect(created).toBe(true);
    expect(send).toMatchObject({ emailId: "mailgun:id@mg.example", provider: ApiProvider.MAILGUN, attributed: true, campaignId: "camp", status: SendStatus.OPENED });
    // The id as Send.email_id shows it, with the provider or without, is the same send.
    expect((await apiB.recordSend({ ...request, emailId: "mailgun:id@mg.example" })).created).toBe(false);
    expect((await api.getSend({ workspaceId: ws, emailId: "<id@mg.example>", provider: ApiProvider.MAILGUN })).send?.emailId).toBe("mailgun:id@mg.example");
    expect((await api.getSend({ workspaceId: ws, emailId: "mailgun:id@mg.example" })).send?.campaignId).toBe("camp");

    const subject = `sends.${ws}.recorded`;
    await waitFor(async () => {
      const info = await instanceA.context.nats.jsm.streams.info(DOMAIN_EVENTS_STREAM, { subjects_filter: subject });
      return info.state.subjects?.[subject] === 1;
    }, { what: "one SendRecorded" });
    const message = await instanceA.context.nats.jsm.streams.getMessage(DOMAIN_EVENTS_STREAM, { last_by_subj: subject });
    expect(fromBinary(SendRecordedSchema, message!.data)).toMatchObject({ emailId: "mailgun:id@mg.example", provider: ApiProvider.MAILGUN, campaignId: "camp" });
  });

  it("keeps a Resend send and a SendGrid send with the same message id apart", async () => {
    const ws = uniqueName("ws");
    const register = (provider: ApiProvider, campaignId: string) =>
      api.recordSend({ workspaceId: ws, emailId: "abc", provider, campaignId, subscriberId: "sub", recipient: "ann@example.com" });
    expect(await register(ApiProvider.UNSPECIFIED, "resend-camp")).toMatchObject({ created: true, send: { emailId: "abc" } });
    // Not a conflicting second registration of "abc": another provider's message.
    expect(await register(ApiProvider.SENDGRID, "sendgrid-camp")).toMatchObject({ created: true, send: { emailId: "sendgrid:abc", provider: ApiProvider.SENDGRID } });
    await publishAs("resend", ws, "abc", "email.delivered", 10);
    await publishAs("sendgrid", ws, "abc", "email.bounced", 20, { bounce: { type: "Permanent", subType: "General" } });
    await waitFor(async () => (await getSend(ws, "sendgrid:abc")).status === SendStatus.BOUNCED, { what: "the SendGrid bounce" });
    await waitFor(async () => (await getSend(ws, "abc")).status === SendStatus.DELIVERED, { what: "the Resend delivery" });
    const [resend, sendgrid] = await Promise.all([
      api.getSend({ workspaceId: ws, emailId: "abc" }),
      api.getSend({ workspaceId: ws, emailId: "abc", provider: ApiProvider.SENDGRID }),
    ]);
    expect(resend.send).toMatchObject({ provider: ApiProvider.RESEND, campaignId: "resend-camp", status: SendStatus.DELIVERED });
    expect(sendgrid.send).toMatchObject({ provider: ApiProvider.SENDGRID, campaignId: "sendgrid-camp", status: SendStatus.BOUNCED });
    expect((await api.listSendEvents({ workspaceId: ws, emailId: "abc" })).events.map((event) => event.type)).toEqual(["email.delivered"]);
    expect((await api.listSendEvents({ workspaceId: ws, emailId: "sendgrid:abc" })).events.map((event) => event.type)).toEqual(["email.bounced"]);
  });

  it("lists a campaign's sends by status and by subscriber, page by page", async () => {
    const ws = uniqueName("ws");
    for (const [emailId, subscriberId] of [["l1", "s1"], ["l2", "s2"], ["l3", "s1"], ["l4", "s3"]] as const) {
      await api.recordSend({ workspaceId: ws, emailId, campaignId: "camp", subscriberId, recipient: `${subscriberId}@example.com` });
    }
    await api.recordSend({ workspaceId: ws, emailId: "other", campaignId: "camp2", subscriberId: "s1", recipient: "s1@example.com" });
    await publish(ws, "l1", "email.bounced", 1, { bounce: { type: "Permanent", subType: "General" } });
    await publish(ws, "l3", "email.bounced", 1, { bounce: { type: "Permanent", subType: "General" } });
    await publish(ws, "l4", "email.bounced", 1, { bounce: { type: "Transient", subType: "General" } });
    await waitFor(async () => (await getSend(ws, "l4")).softBounceCount === 1 && (await getSend(ws, "l3")).status === SendStatus.BOUNCED);

    const bounced = await api.listSends({ workspaceId: ws, campaignId: "camp", status: SendStatus.BOUNCED, pageSize: 1 });
    expect(bounced.sends.map((send) => send.emailId)).toEqual(["l1"]);
    const next = await api.listSends({ workspaceId: ws, campaignId: "camp", status: SendStatus.BOUNCED, pageSize: 1, pageToken: bounced.nextPageToken });
    expect(next.sends.map((send) => send.emailId)).toEqual(["l3"]);
    expect(next.nextPageToken).toBe("");
    const bySubscriber = await api.listSends({ workspaceId: ws, campaignId: "camp", subscriberId: "s1" });
    expect(bySubscriber.sends.map((send) => send.emailId)).toEqual(["l1", "l3"]);
    expect((await api.listSends({ workspaceId: ws, campaignId: "camp" })).sends).toHaveLength(4);
    expect(await codeOf(api.listSends({ workspaceId: ws, campaignId: "camp", pageToken: bounced.nextPageToken }))).toMatch(/^InvalidArgument: page_token/);
  });

  it("validates input naming the field, and never shows another workspace's send", async () => {
    const ws = uniqueName("ws");
    await api.recordSend({ workspaceId: ws, emailId: "v1", campaignId: "c", subscriberId: "s", recipient: "a@example.com" });
    expect(await codeOf(api.getSend({ workspaceId: "bad ws", emailId: "v1" }))).toMatch(/^InvalidArgument: workspace_id/);
    expect(await codeOf(api.getSend({ workspaceId: ws, emailId: "" }))).toMatch(/^InvalidArgument: email_id/);
    expect(await codeOf(api.recordSend({ workspaceId: ws, emailId: "v2", campaignId: "c", subscriberId: "s", recipient: "nope" }))).toMatch(/^InvalidArgument: recipient/);
    expect(await codeOf(api.recordSend({ workspaceId: ws, emailId: "v2", campaignId: "", subscriberId: "s", recipient: "a@b.c" }))).toMatch(/^InvalidArgument: campaign_id/);
    expect(await codeOf(api.listSends({ workspaceId: ws, campaignId: "c", status: 42 as SendStatus }))).toMatch(/^InvalidArgument: status/);
    expect(await codeOf(api.listSends({ workspaceId: ws, campaignId: "c", pageSize: -1 }))).toMatch(/^InvalidArgument: page_size/);
    expect(await codeOf(api.recordSend({ workspaceId: ws, emailId: "v2", campaignId: "c", subscriberId: "s", recipient: "a@b.c", provider: 42 as ApiProvider }))).toMatch(/^InvalidArgument: provider/);
    expect(await codeOf(api.recordSend({ workspaceId: ws, emailId: " <> ", campaignId: "c", subscriberId: "s", recipient: "a@b.c", provider: ApiProvider.MAILGUN }))).toMatch(/^InvalidArgument: email_id/);
    expect(await codeOf(api.getSend({ workspaceId: ws, emailId: "v1", provider: -1 as ApiProvider }))).toMatch(/^InvalidArgument: provider/);
    expect(await codeOf(api.getSend({ workspaceId: ws, emailId: "v1", provider: ApiProvider.SES }))).toMatch(/^NotFound/); // "ses:v1" is another send
    expect(await codeOf(api.getSend({ workspaceId: uniqueName("other"), emailId: "v1" }))).toMatch(/^NotFound/);
    expect(await codeOf(api.listSendEvents({ workspaceId: uniqueName("other"), emailId: "v1" }))).toMatch(/^NotFound/);
  });

  it("streams a change made through another instance to a watcher as it happens", async () => {
    const ws = uniqueName("ws");
    const abort = new AbortController();
    const received: WatchSendsResponse[] = [];
    const stream = (async () => {
      try {
        for await (const change of apiB.watchSends({ workspaceId: ws, campaignId: "watched" }, { signal: abort.signal })) received.push(change);
      } catch {
        // cancelled at the end of the test
      }
    })();
    try {
      // The subscription is live once a priming change comes through.
      let n = 0;
      await waitFor(async () => {
        await api.recordSend({ workspaceId: ws, emailId: `prime${n++}`, campaignId: "watched", subscriberId: "s", recipient: "a@example.com" });
        return received.length > 0;
      }, { what: "the watch subscription", intervalMs: 200 });
      await api.recordSend({ workspaceId: ws, emailId: "noise", campaignId: "other", subscriberId: "s", recipient: "a@example.com" });
      const published = Date.now();
      await publish(ws, "prime0", "email.delivered", 1);
      const change = await waitFor(() => received.find((c) => c.event?.type === "email.delivered"), { timeoutMs: 10_000, what: "the pushed change" });
      // Pushed across instances, not polled; the deadline is generous for loaded CI machines (idle: tens of ms).
      void published;
      expect(change.send).toMatchObject({ emailId: "prime0", status: SendStatus.DELIVERED });
      expect(received.some((c) => c.send?.emailId === "noise")).toBe(false);
    } finally {
      abort.abort();
      await stream;
    }
  });

  it("dead-letters a poison message with its reason and keeps going", async () => {
    const ws = uniqueName("ws");
    const undecodable = await js().publish(`resend.events.${ws}.email.delivered`, new TextEncoder().encode("not a protobuf"));
    const noEmailId = create(ResendEventSchema, { schemaVersion: 1, workspaceId: ws, svixId: "msg_x", type: "email.delivered", receivedTime: timestampFromMs(t0) });
    await js().publish(`resend.events.${ws}.email.delivered`, toBinary(ResendEventSchema, noEmailId));
    await publish(ws, "after", "email.delivered", 1);
    await waitFor(async () => (await getSend(ws, "after").catch(() => undefined))?.status === SendStatus.DELIVERED);
    const subject = `dead.${consumerName}`;
    await waitFor(async () => {
      const info = await instanceA.context.nats.jsm.streams.info(DEAD_LETTERS_STREAM, { subjects_filter: subject });
      return (info.state.subjects?.[subject] ?? 0) >= 2;
    }, { what: "two dead letters" });
    const reader = await js().consumers.get(DEAD_LETTERS_STREAM, { filter_subjects: [subject] });
    const reasons: string[] = [];
    for await (const msg of await reader.fetch({ max_messages: 2, expires: 2000 })) {
      reasons.push(msg.headers?.get(deadLetterHeaders.reason) ?? "");
      if (msg.headers?.get(deadLetterHeaders.sequence) === String(undecodable.seq)) expect(msg.headers?.get(deadLetterHeaders.consumer)).toBe(consumerName);
    }
    expect(reasons).toHaveLength(2);
    expect(reasons).toEqual(expect.arrayContaining([expect.stringContaining("ResendEvent"), "email.delivered event without data.email_id"]));
  });
});
