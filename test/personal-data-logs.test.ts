/**
 * Issue 17 item 5: no address, IP, user agent, subject or body in any log line at any level. The whole
 * stack runs as processes at LOG_LEVEL=debug through a realistic workload — a mixed load of all five
 * providers, Resend webhooks of every type whose personal fields are unique to this run, sends recorded
 * and a reconciliation run against a stand-in of Resend's API, suppression changes and checks, reads of
 * every kind, and refused requests that carry addresses — and then every line every service wrote is
 * searched for each of those values, in any letter case. The identifiers (workspace, email and svix ids)
 * must be there: they prove the lines were captured at debug at all.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { ReconciliationState, SendStatus } from "../gen/ngsreach/delivery/v1/delivery_status_pb.ts";
import { Provider } from "../gen/ngsreach/events/v1/provider_pb.ts";
import { postmarkRequest } from "../cli/provider-sign.ts";
import { newWebhookSecret, signedHeaders } from "../cli/sign.ts";
import { createLogger } from "../services/shared/log.ts";
import { connectNats, DOMAIN_EVENTS_STREAM, RESEND_EVENTS_STREAM, type NatsHandles } from "../services/shared/nats.ts";
import { startLoad } from "./faults/scenario-helpers.ts";
import { Stack } from "./faults/stack.ts";
import { waitFor } from "./harness.ts";
import { buildProbes, findLeaks, type Leak, type ProbeSend, type ProbeWebhook } from "./support/personal-data-probes.ts";
import { startResendApiStandIn, type ResendApiStandIn } from "./support/resend-api-stand-in.ts";
import { captureServiceLogs, type ServiceLogs } from "./support/service-logs.ts";

let stack: Stack;
let resend: ResendApiStandIn;
let logs: ServiceLogs;
let nats: NatsHandles;

beforeAll(async () => {
  resend = await startResendApiStandIn({ ratePerSecond: 100 });
  stack = await Stack.start({
    cluster: false,
    instances: 1,
    providers: "mixed",
    env: { LOG_LEVEL: "debug" },
    serviceEnv: { "delivery-status": { RESEND_API_BASE_URL: resend.baseUrl, RESEND_API_RATE: "100", RECONCILE_POLL_SECONDS: "0.2" } },
  });
  logs = captureServiceLogs(stack);
  nats = await connectNats(stack.natsUrl, "personal-data-logs", createLogger({}, "error"));
  await stack.settings().setProviderApiKey({ workspaceId: stack.workspaceId, provider: Provider.RESEND, apiKey: resend.apiKey, actor: "privacy-test", note: "reconciliation" });
}, 90_000);

afterAll(async () => {
  await nats?.nc.close();
  await stack?.close();
  await resend?.close();
});

const timestamp = (ms: number) => ({ $typeName: "google.protobuf.Timestamp" as const, seconds: BigInt(Math.floor(ms / 1000)), nanos: 0 });

async function post(provider: string, request: { headers: Record<string, string>; body: string }, workspaceId = stack.workspaceId): Promise<number> {
  const response = await fetch(`${stack.url("webhook-gateway")}/webhooks/${provider}?workspaceId=${workspaceId}`, { method: "POST", ...request });
  await response.arrayBuffer();
  return response.status;
}

const signed = (hook: ProbeWebhook, secret = stack.secrets.get(stack.workspaceId)!) => ({
  headers: { "content-type": "application/json", ...signedHeaders(secret, hook.body, { id: hook.svixId }) },
  body: hook.body,
});

async function recordSends(campaignId: string, sends: readonly ProbeSend[], sentAtMs?: number): Promise<void> {
  await Promise.all(
    sends.map((send, i) =>
      stack.delivery().recordSend({ workspaceId: stack.workspaceId, campaignId, ...send, ...(sentAtMs ? { sentTime: timestamp(sentAtMs + i * 1000) } : {}) }),
    ),
  );
}

/** The Connect code a call failed with (undefined when it succeeded). */
async function codeOf(call: Promise<unknown>): Promise<Code | undefined> {
  return call.then(
    () => undefined,
    (error: unknown) => ConnectError.from(error).code,
  );
}

/** Every durable consumer has acked everything, twice in a row (an ack can publish a domain event). */
async function drained(): Promise<void> {
  let quietPasses = 0;
  await waitFor(
    async () => {
      let outstanding = 0;
      for (const stream of [RESEND_EVENTS_STREAM, DOMAIN_EVENTS_STREAM]) {
        for await (const info of nats.jsm.consumers.list(stream)) if (info.config.durable_name) outstanding += info.num_pending + info.num_ack_pending;
      }
      quietPasses = outstanding === 0 ? quietPasses + 1 : 0;
      return quietPasses >= 2;
    },
    { timeoutMs: 30_000, intervalMs: 200, what: "every consumer to ack everything" },
  );
}

const describeLeak = (leak: Leak) => `${leak.process}: ${leak.datum.kind} "${leak.datum.value}" in ${leak.line}`;

describe("personal data in the services' logs", () => {
  it("holds no address, IP, user agent, subject or body of a realistic workload at debug, while its identifiers are logged", { timeout: 120_000 }, async () => {
    const probes = buildProbes();
    const ws = stack.workspaceId;
    const load = startLoad(stack, 20, { concurrency: 4 });

    // Sends recorded, their webhooks of every type (some before the send record: RecordSend races them).
    const early = probes.webhooks.filter((_, i) => i % 3 === 0);
    for (const status of await Promise.all(early.map((hook) => post("resend", signed(hook))))) expect(status).toBe(200);
    await recordSends(probes.campaignId, probes.sends);
    for (const status of await Promise.all(probes.webhooks.map((hook) => post("resend", signed(hook))))) expect(status).toBe(200);
    expect(await post("resend", signed(probes.unattributed))).toBe(200);

    // Refused requests that carry addresses.
    const [ada, bea] = probes.sends as [ProbeSend, ProbeSend];
    expect(await codeOf(stack.delivery().recordSend({ workspaceId: ws, campaignId: probes.campaignId, emailId: "bad-recipient", subscriberId: "s", recipient: probes.malformedAddress }))).toBe(Code.InvalidArgument);
    expect(await codeOf(stack.delivery().recordSend({ workspaceId: ws, campaignId: probes.campaignId, emailId: ada.emailId, subscriberId: ada.subscriberId, recipient: bea.recipient }))).toBe(Code.AlreadyExists);
    const anyHook = probes.webhooks[2]!;
    expect(await post("resend", signed(anyHook, newWebhookSecret()))).toBe(401);
    expect(await post("resend", signed(anyHook), "ws-nobody-here")).toBe(404);
    expect(await post("resend", signed({ ...anyHook, body: `{"type":"email.bounced","data":{"to":["${ada.recipient}"]` }))).toBe(400);
    // Verified but unreadable (no RecordType): the gateway logs this one, naming the field.
    expect(await post("postmark", postmarkRequest(stack.providerKeys.get(ws)!.postmark, { MessageID: "pm-bad", Email: ada.recipient, Details: `smtp;550 <${ada.recipient}>` }))).toBe(400);
    expect(await codeOf(stack.suppression().checkSuppressions({ workspaceId: ws, emails: [ada.recipient, probes.malformedAddress] }))).toBe(Code.InvalidArgument);
    expect(await codeOf(stack.suppression().addSuppression({ workspaceId: ws, email: probes.malformedAddress, actor: "privacy-test", note: "typo" }))).toBe(Code.InvalidArgument);

    // Manual suppression changes, audited with a note that names the person.
    const note = `asked by phone to stop mailing ${probes.manualAddress}`;
    expect((await stack.suppression().addSuppression({ workspaceId: ws, email: probes.manualAddress, subscriberId: "sub-manual", actor: "privacy-test", note })).changed).toBe(true);
    expect((await stack.suppression().removeSuppression({ workspaceId: ws, email: probes.manualAddress, actor: "privacy-test", note })).changed).toBe(true);
    await stack.suppression().addSuppression({ workspaceId: ws, email: probes.manualAddress, actor: "privacy-test", note });

    // Sends whose webhooks were lost, reconciled from Resend's API (reconstructed events reach every service).
    const lostCampaign = `${probes.campaignId}-lost`;
    resend.emails = probes.standIn;
    await recordSends(lostCampaign, probes.lostSends, Date.parse(probes.standIn[0]!.created_at));
    const { reconciliationId } = await stack.delivery().reconcileSends({ workspaceId: ws, campaignId: lostCampaign });
    const run = await waitFor(
      async () => {
        const { reconciliation } = await stack.delivery().getReconciliation({ workspaceId: ws, reconciliationId });
        return reconciliation?.state !== ReconciliationState.RUNNING && reconciliation;
      },
      { timeoutMs: 30_000, intervalMs: 200, what: "the reconciliation run to end" },
    );
    expect(run.state, run.stopReason).toBe(ReconciliationState.SUCCEEDED);
    expect(run.changed).toBe(2n);

    await load.done;
    await drained();

    // The workload took effect (else a clean log would prove nothing), read through every kind of read.
    const statusOf = async (emailId: string) => (await stack.delivery().getSend({ workspaceId: ws, emailId })).send?.status;
    expect(await statusOf(ada.emailId)).toBe(SendStatus.COMPLAINED);
    expect(await statusOf(probes.lostSends[0]!.emailId)).toBe(SendStatus.CLICKED);
    expect((await stack.delivery().listSendEvents({ workspaceId: ws, emailId: ada.emailId })).events.length).toBe(7);
    // The unattributed email joins the campaign by its campaign_id tag.
    expect((await stack.delivery().listSends({ workspaceId: ws, campaignId: probes.campaignId })).sends.length).toBe(probes.sends.length + 1);
    expect((await stack.stats().getCampaignStats({ workspaceId: ws, campaignId: probes.campaignId })).stats?.uniqueClicks).toBe(1n);
    const checked = await stack.suppression().checkSuppressions({ workspaceId: ws, emails: [ada.recipient, bea.recipient, probes.lostSends[1]!.recipient, probes.manualAddress] });
    expect(checked.results.map((result) => result.suppressed)).toEqual([true, true, true, true]);
    await stack.suppression().getSubscriber({ workspaceId: ws, subscriber: { case: "email", value: bea.recipient } });
    await stack.suppression().listSuppressions({ workspaceId: ws });
    for await (const chunk of stack.suppression().exportSuppressions({ workspaceId: ws })) void chunk;
    expect(load.workload.events.length).toBeGreaterThan(50);

    const outputs = logs.all();
    const personal = [...probes.personal, ...load.workload.addresses.map((value) => ({ kind: "address" as const, value }))];
    expect(findLeaks(outputs, personal).map(describeLeak)).toEqual([]);

    // Captured, and at debug: lines of every service, debug ones naming the workspace, svix and email ids.
    for (const { label, text } of outputs) expect(text, label).toContain('"msg":"service started"');
    const gateway = logs.of("webhook-gateway");
    expect(gateway).toMatch(new RegExp(`"level":"debug".*"workspaceId":"${ws}","svixId":"${probes.webhooks[0]!.svixId}"`));
    expect(logs.of("suppression")).toMatch(new RegExp(`"level":"debug".*"emailId":"${probes.unattributed.emailId}"`));
    expect(logs.of("delivery-status")).toContain(`"runId":"${reconciliationId}"`);
    expect(gateway).toContain('"msg":"verified webhook body not readable"');
  });
});
