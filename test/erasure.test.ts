/**
 * Issue 17's "Done when" for erasure and export, on the whole stack as processes: a subscriber with
 * sends, opens, clicks (IP address, user agent), a bounce whose diagnostic names the address, a manual
 * suppression and its audit entry is erased while delivery status is down; the erasure stays PENDING for
 * that service, finishes when it comes back, and purges the streams. Then no public read API returns the
 * address, an IP address or a user agent of that subscriber, CheckSuppressions still answers
 * "suppressed", no stream message holds the address, campaign numbers are those computed from the input,
 * and another subscriber's data is untouched (and exported in full).
 */
import { toJsonString } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signedHeaders } from "../cli/sign.ts";
import { sampleEmailEvent } from "../cli/resend-samples.ts";
import { SendStatus } from "../gen/ngsreach/delivery/v1/delivery_status_pb.ts";
import { ExportSubscriberDataResponseSchema, ErasureState } from "../gen/ngsreach/suppression/v1/suppression_pb.ts";
import { connectNats, DOMAIN_EVENTS_STREAM, RESEND_EVENTS_STREAM } from "../services/shared/nats.ts";
import { createLogger } from "../services/shared/log.ts";
import { Stack, spawnEntry, type ServiceProc } from "./faults/stack.ts";
import { waitFor } from "./harness.ts";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { SuppressionService } from "../gen/ngsreach/suppression/v1/suppression_pb.ts";
import { randomBytes } from "node:crypto";

const ann = { email: "Ann.Private@example.com", subscriberId: "sub-ann", emailId: "em-ann-1", ip: "203.0.113.77", userAgent: "AnnBrowser/1.0 (ann-laptop)" };
const bob = { email: "bob.keeps@example.com", subscriberId: "sub-bob", emailId: "em-bob-1", ip: "198.51.100.9", userAgent: "BobBrowser/2.0" };
const cy = { email: "cy.bounces@example.com", subscriberId: "sub-cy", emailId: "em-cy-1" };
const campaignId = "camp-erasure";

let stack: Stack;
let suppression: ServiceProc;

/** Our own suppression process, told where delivery status listens now (it moves when restarted). */
async function startSuppression(): Promise<void> {
  suppression = await spawnEntry("suppression", { ...stack.env("suppression"), DELIVERY_STATUS_URL: stack.url("delivery-status") });
}
const suppressionClient = () => createClient(SuppressionService, createConnectTransport({ baseUrl: suppression.baseUrl, httpVersion: "1.1" }));

async function webhook(type: string, emailId: string, to: string, extra: Record<string, unknown> = {}): Promise<void> {
  const body = JSON.stringify(sampleEmailEvent(type, { emailId, to: [to], ...extra }));
  const secret = stack.secrets.get(stack.workspaceId)!;
  const response = await fetch(`${stack.url("webhook-gateway")}/webhooks/resend?workspaceId=${stack.workspaceId}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...signedHeaders(secret, body, { id: `msg_${randomBytes(8).toString("hex")}` }) },
    body,
  });
  await response.arrayBuffer();
  expect(response.status).toBe(200);
}

/** Every message of a stream's workspace subjects, as text. */
async function streamTexts(stream: string, subjects: string[]): Promise<string[]> {
  const nats = await connectNats(stack.natsUrl, "erasure-test-reader", createLogger({}, "error"));
  try {
    const texts: string[] = [];
    const info = await nats.jsm.streams.info(stream);
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const message = await nats.jsm.streams.getMessage(stream, { seq }).catch(() => undefined);
      if (message && subjects.some((prefix) => message.subject.startsWith(prefix))) texts.push(new TextDecoder().decode(message.data));
    }
    return texts;
  } finally {
    await nats.nc.close();
  }
}

beforeAll(async () => {
  stack = await Stack.start({ cluster: false, instances: 1, services: ["webhook-gateway", "delivery-status", "campaign-stats"] });
  await startSuppression();
  for (const person of [ann, bob, cy]) {
    await stack.delivery().recordSend({ workspaceId: stack.workspaceId, emailId: person.emailId, campaignId, subscriberId: person.subscriberId, recipient: person.email, sentTime: timestampFromMs(Date.now() - 60_000) });
  }
  for (const person of [ann, bob]) {
    await webhook("email.delivered", person.emailId, person.email);
    await webhook("email.opened", person.emailId, person.email);
    await webhook("email.clicked", person.emailId, person.email, { click: { link: "https://shop.example/sale", ipAddress: person.ip, userAgent: person.userAgent } });
  }
  await webhook("email.bounced", cy.emailId, cy.email, { bounce: { type: "Permanent", subType: "General", message: `550 5.1.1 <${cy.email}>: no such user`, diagnosticCode: `smtp; 550 <${cy.email}> unknown` } });
  await suppressionClient().addSuppression({ workspaceId: stack.workspaceId, email: ann.email, actor: "support", note: "asked by Ann Private" });
  await waitFor(async () => (await stack.delivery().getSend({ workspaceId: stack.workspaceId, emailId: ann.emailId })).send?.status === SendStatus.CLICKED, { what: "ann's send clicked" });
  await waitFor(async () => (await stack.delivery().getSend({ workspaceId: stack.workspaceId, emailId: cy.emailId })).send?.status === SendStatus.BOUNCED, { what: "cy's send bounced" });
}, 180_000);

afterAll(async () => {
  await suppression?.stop();
  await stack?.close();
});

describe("erasure of a subscriber, one service down during the request", () => {
  it("finishes when the service is back, and then nothing returns the subscriber's personal data", async () => {
    const ws = stack.workspaceId;
    await stack.proc("delivery-status").stop();
    const { erasure } = await suppressionClient().eraseSubscriber({ workspaceId: ws, subscriber: { case: "email", value: ann.email }, actor: "dpo", note: "GDPR ticket 17", purgeStream: true });
    const erasureId = erasure!.erasureId;
    const progress = async () => (await suppressionClient().getErasure({ workspaceId: ws, erasureId })).erasure!;
    await waitFor(async () => (await progress()).services.filter((part) => part.done).map((part) => part.service).join() === "suppression,webhook-gateway", {
      what: "every service but delivery status done",
    });
    expect((await progress()).state).toBe(ErasureState.PENDING);

    await stack.start("delivery-status");
    await suppression.stop();
    await startSuppression(); // the new delivery-status address, for the export below
    await waitFor(async () => (await progress()).state === ErasureState.DONE, { what: "the erasure DONE", timeoutMs: 90_000 });
    expect((await progress()).services.map((part) => [part.service, part.done])).toEqual([
      ["suppression", true],
      ["delivery-status", true],
      ["webhook-gateway", true],
      ["streams", true],
    ]);

    // The click IP is stored truncated to its /24 by default (STORE_CLICK_IP), so look for both forms.
    const personal = [ann.email, ann.ip, "203.0.113.0", ann.userAgent, ann.subscriberId, "Ann Private"];
    const leaks = (text: string) => personal.filter((value) => text.toLowerCase().includes(value.toLowerCase()));

    // Delivery status: statuses and counts stay, the person is gone.
    const { send } = await stack.delivery().getSend({ workspaceId: ws, emailId: ann.emailId });
    expect(send).toMatchObject({ status: SendStatus.CLICKED, recipient: "", subscriberId: "", openCount: 1, clickCount: 1, campaignId });
    const events = await stack.delivery().listSendEvents({ workspaceId: ws, emailId: ann.emailId });
    expect(events.events.map((event) => event.type).sort()).toEqual(["email.clicked", "email.delivered", "email.opened"]);
    const sends = await stack.delivery().listSends({ workspaceId: ws, campaignId });
    expect(leaks(JSON.stringify([send, events, sends], (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v)))).toEqual([]);

    // Suppression: still suppressed, only as the hash.
    const client = suppressionClient();
    const check = await client.checkSuppressions({ workspaceId: ws, emails: [ann.email] });
    expect(check.results[0]!.suppressed).toBe(true);
    const { subscriber } = await client.getSubscriber({ workspaceId: ws, subscriber: { case: "email", value: ann.email } });
    expect(subscriber).toMatchObject({ erased: true, email: "", subscriberId: "" });
    const listed = await client.listSuppressions({ workspaceId: ws });
    const exported = [];
    for await (const chunk of client.exportSuppressions({ workspaceId: ws })) exported.push(...chunk.suppressions);
    const annExport = [];
    for await (const part of client.exportSubscriberData({ workspaceId: ws, subscriber: { case: "email", value: ann.email } })) annExport.push(part);
    expect(annExport).toEqual([]);
    expect(leaks(JSON.stringify([subscriber, listed, exported], (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v)))).toEqual([]);

    // The gateway's audit log names the erasure, not the person.
    const audit = await stack.settings().listAuditEntries({ workspaceId: ws, pageSize: 500 });
    expect(audit.entries.some((entry) => entry.target === `erasure:${erasureId}`)).toBe(true);
    expect(leaks(JSON.stringify(audit, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v)))).toEqual([]);

    // The streams: no raw webhook, no domain event holds the address any more.
    const texts = [
      ...(await streamTexts(RESEND_EVENTS_STREAM, [`resend.events.${ws}.`])),
      ...(await streamTexts(DOMAIN_EVENTS_STREAM, [`sends.${ws}.`, `subscriber.${ws}.`, `audit.${ws}.`, `erasure.${ws}.`])),
    ];
    expect(texts.length).toBeGreaterThan(0);
    expect(texts.filter((text) => leaks(text).length > 0)).toEqual([]);

    // Campaign numbers, from the input: 3 sent, 2 delivered, 1 hard bounce, 2 opens, 2 clicks.
    const stats = (await stack.stats().getCampaignStats({ workspaceId: ws, campaignId })).stats!;
    expect([stats.sent, stats.delivered, stats.hardBounced, stats.uniqueOpens, stats.uniqueClicks]).toEqual([3n, 2n, 1n, 2n, 2n]);

    // Another subscriber keeps everything, and an access request returns it.
    const bobExport = [];
    for await (const part of client.exportSubscriberData({ workspaceId: ws, subscriber: { case: "email", value: bob.email } })) bobExport.push(part);
    const bobText = bobExport.map((part) => toJsonString(ExportSubscriberDataResponseSchema, part)).join("\n");
    expect(bobExport.map((part) => part.part.case)).toEqual(["subscriber", "send"]);
    for (const value of [bob.email, "198.51.100.0", bob.userAgent, bob.emailId]) expect(bobText).toContain(value);
  });
});
