/**
 * What starts a reconciliation on its own (issue 16): the gateway's gap detection (a workspace with sends
 * recorded and no verified webhook for RECONCILE_SILENCE_MINUTES publishes WebhookSilence, which the
 * delivery status service answers with a run over the sends since the silence began), and the automatic
 * sweep (sends registered more than RECONCILE_AFTER_MINUTES ago with no final status). Each on a stack of
 * its own, the other trigger turned off, with the durations shortened to seconds.
 */
import { randomUUID } from "node:crypto";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { afterAll, describe, expect, it } from "vitest";
import { ReconciliationState, ReconciliationTrigger, SendStatus, type Reconciliation } from "../gen/ngsreach/delivery/v1/delivery_status_pb.ts";
import { Provider } from "../gen/ngsreach/events/v1/provider_pb.ts";
import { Stack } from "./faults/stack.ts";
import { startResendApiStandIn, type ResendApiStandIn, type StandInEmail } from "./support/resend-api-stand-in.ts";

const standIns: ResendApiStandIn[] = [];
afterAll(async () => {
  await Promise.all(standIns.map((standIn) => standIn.close()));
});

async function stackWith(resend: ResendApiStandIn, gateway: Record<string, string>, delivery: Record<string, string>, { withKey = true } = {}): Promise<Stack> {
  const stack = await Stack.start({
    cluster: false,
    instances: 1,
    serviceEnv: {
      "webhook-gateway": gateway,
      "delivery-status": { RESEND_API_BASE_URL: resend.baseUrl, RESEND_API_RATE: "100", RECONCILE_POLL_SECONDS: "0.2", ...delivery },
    },
  });
  if (withKey) await setKey(stack, resend);
  return stack;
}

const setKey = (stack: Stack, resend: ResendApiStandIn) =>
  stack.settings().setProviderApiKey({ workspaceId: stack.workspaceId, provider: Provider.RESEND, apiKey: resend.apiKey, actor: "test", note: "triggers" });

/** Registers a send (sent at `sentAtMs`) that Resend says reached `lastEvent`. */
async function send(stack: Stack, resend: ResendApiStandIn, lastEvent: string, sentAtMs = Date.now()): Promise<string> {
  const emailId = randomUUID();
  const recipient = `r-${emailId.slice(0, 8)}@example.com`;
  await stack.delivery().recordSend({
    workspaceId: stack.workspaceId,
    emailId,
    campaignId: "triggers",
    subscriberId: emailId.slice(0, 8),
    recipient,
    sentTime: { $typeName: "google.protobuf.Timestamp", seconds: BigInt(Math.floor(sentAtMs / 1000)), nanos: 0 },
  });
  const email: StandInEmail = {
    id: emailId,
    to: [recipient],
    created_at: new Date(sentAtMs).toISOString(),
    last_event: lastEvent,
    ...(lastEvent === "bounced" ? { bounce: { type: "Permanent", subType: "General", message: "no such mailbox" } } : {}),
  };
  resend.emails = [email, ...resend.emails];
  return emailId;
}

async function finishedRun(stack: Stack, reconciliationId: string, timeoutMs = 60_000): Promise<Reconciliation> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = await stack
      .delivery()
      .getReconciliation({ workspaceId: stack.workspaceId, reconciliationId })
      .then((answer) => answer.reconciliation, () => undefined);
    if (run && run.state !== ReconciliationState.RUNNING) return run;
    if (Date.now() > deadline) throw new Error(`reconciliation ${reconciliationId} did not finish within ${timeoutMs} ms (${run ? `checked ${run.checked}` : "not started"})`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

const statusOf = async (stack: Stack, emailId: string) => (await stack.delivery().getSend({ workspaceId: stack.workspaceId, emailId })).send!.status;

async function statusesUntil(stack: Stack, expected: Record<string, SendStatus>, timeoutMs = 30_000): Promise<Record<string, SendStatus>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = Object.fromEntries(await Promise.all(Object.keys(expected).map(async (emailId) => [emailId, await statusOf(stack, emailId)] as const)));
    if (JSON.stringify(got) === JSON.stringify(expected) || Date.now() > deadline) return got;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

describe("reconciliations that start on their own", () => {
  it("gap detection: a silent workspace with an API key gets its sends since the silence reconciled", async () => {
    const resend = await startResendApiStandIn({ ratePerSecond: 100 });
    standIns.push(resend);
    const stack = await stackWith(resend, { RECONCILE_SILENCE_MINUTES: "0.05" }, { RECONCILE_SWEEP_SECONDS: "86400" });
    try {
      const delivered = await send(stack, resend, "delivered");
      const opened = await send(stack, resend, "opened");
      const bounced = await send(stack, resend, "bounced");
      const { send: first } = await stack.delivery().getSend({ workspaceId: stack.workspaceId, emailId: delivered });
      const runId = `silence-${timestampMs(first!.recordedTime!)}`;

      const run = await finishedRun(stack, runId);
      expect(run.trigger).toBe(ReconciliationTrigger.SILENCE);
      expect(run.state, run.stopReason).toBe(ReconciliationState.SUCCEEDED);
      expect(run.checked).toBe(3n);
      expect(run.changed).toBe(3n);
      expect(await statusesUntil(stack, { [delivered]: SendStatus.DELIVERED, [opened]: SendStatus.OPENED, [bounced]: SendStatus.BOUNCED })).toEqual({
        [delivered]: SendStatus.DELIVERED,
        [opened]: SendStatus.OPENED,
        [bounced]: SendStatus.BOUNCED,
      });
      // The silence is still reported: reconstructed events are not webhooks, only a verified webhook ends it.
      const health = await stack.settings().getWebhookHealth({ workspaceId: stack.workspaceId });
      expect(health.silentSinceTime && timestampMs(health.silentSinceTime)).toBe(timestampMs(first!.recordedTime!));
    } finally {
      await stack.close();
    }
  }, 120_000);

  it("the automatic sweep checks the unsettled sends older than RECONCILE_AFTER_MINUTES, once", async () => {
    const resend = await startResendApiStandIn({ ratePerSecond: 100 });
    standIns.push(resend);
    const stack = await stackWith(resend, { RECONCILE_SILENCE_MINUTES: "10080" }, { RECONCILE_AFTER_MINUTES: "0.02", RECONCILE_SWEEP_SECONDS: "0.5" }, { withKey: false });
    try {
      const hourAgo = Date.now() - 3600_000;
      const delivered = await send(stack, resend, "delivered", hourAgo);
      const complained = await send(stack, resend, "complained", hourAgo);
      const stillSent = await send(stack, resend, "sent", hourAgo);
      // Once they are older than RECONCILE_AFTER_MINUTES (1.2 s), the workspace gets its key: its first sweep,
      // which starts where nothing was swept (run id sweep-0), covers them.
      await new Promise((resolve) => setTimeout(resolve, 1700));
      await setKey(stack, resend);
      const run = await finishedRun(stack, "sweep-0");
      expect(run.trigger).toBe(ReconciliationTrigger.SWEEP);
      expect(run.unsettledOnly).toBe(true);
      expect(run.state, run.stopReason).toBe(ReconciliationState.SUCCEEDED);
      expect(run.checked).toBe(3n);
      expect(run.changed).toBe(2n);
      expect(await statusesUntil(stack, { [delivered]: SendStatus.DELIVERED, [complained]: SendStatus.COMPLAINED, [stillSent]: SendStatus.SENT })).toEqual({
        [delivered]: SendStatus.DELIVERED,
        [complained]: SendStatus.COMPLAINED,
        [stillSent]: SendStatus.SENT,
      });
      // Later sweeps start where it ended: the still-sent send is not asked about again and again (over the
      // four sweeps of 2 s).
      const asked = () => resend.requests.filter((request) => request.path === `/emails/${stillSent}`).length;
      const before = asked();
      await new Promise((resolve) => setTimeout(resolve, 2000));
      expect(asked()).toBe(before);
    } finally {
      await stack.close();
    }
  }, 120_000);
});
