import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, describe, expect, it } from "vitest";
import { DeliveryStatusService } from "../../gen/ngsreach/delivery/v1/delivery_status_pb.ts";
import { sampleEmailEvent } from "../../cli/resend-samples.ts";
import { privateFerretDb, privateNats, testBaseConfig, uniqueName, waitFor } from "../../test/harness.ts";
import { pick } from "../../test/faults/params.ts";
import { publishResendEvent } from "../../test/publish-events.ts";
import { DEAD_LETTERS_STREAM } from "../shared/nats.ts";
import { startService, type RunningService } from "../shared/service-host.ts";
import { deliveryStatusService } from "./service.ts";

describe("the delivery status service when the database stops mid-stream", () => {
  let service: RunningService | undefined;
  afterAll(async () => service?.stop());

  // Long enough for every kind of failure an outage brings to reach the consumer loop, each at least once:
  // refused connections (at once), server selection timing out (serverSelectionTimeoutMS, 5 s), the watchdog
  // restarting a client whose heartbeat wedged (stuck after connectTimeoutMS 5 s + heartbeatFrequencyMS 2 s
  // + 8 s = 15 s, looked at every second) and the operations that then meet the restarted client failing
  // server selection again (5 s) — services/shared/mongo.ts and mongo-watchdog.ts. 25 s is past all of
  // them with room to spare; FAULTS_LONG=1 holds it for a minute, long enough for the consumer's retry
  // backoff (services/shared/consumer.ts) to reach its 30 s cap.
  const outageMs = pick(25_000, 60_000);

  it("does not ack while the database is down, dead-letters nothing, and applies every event exactly once after it returns", { timeout: outageMs + 120_000 }, async () => {
    const [nats, ferret] = await Promise.all([privateNats(), privateFerretDb()]);
    // One attempt: a failure the loop took for a bug instead of an outage would dead-letter at once.
    const config = testBaseConfig({ natsUrl: nats.url, mongoUri: ferret.url, consumerMaxAttempts: 1 });
    service = await startService(deliveryStatusService({ port: 0, outboxSweepMs: 60_000 }), config);
    const api = createClient(DeliveryStatusService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${service.port}` }));
    const js = service.context.nats.js;
    const ws = uniqueName("ws");
    const opens = 30;
    const publishOpen = (i: number) =>
      publishResendEvent(js, ws, sampleEmailEvent("email.opened", { emailId: "down1", createdAt: new Date(Date.UTC(2026, 10, 20, 10, 0, i)) }), {
        svixId: `msg_open_${i}`,
      });

    for (let i = 0; i < 10; i++) await publishOpen(i);
    await ferret.stop();
    const stoppedAt = Date.now();
    const duringOutage: { seq: number }[] = [];
    for (let i = 10; i < 20; i++) duringOutage.push(await publishOpen(i)); // arrive while the database is down
    // The consumer receives them and acks none: the ack floor stays below the first one.
    const consumerInfo = () => service!.context.nats.jsm.consumers.info("RESEND_EVENTS", "delivery-status");
    await waitFor(async () => (await consumerInfo()).delivered.stream_seq >= duringOutage.at(-1)!.seq, { what: "the outage's messages delivered" });
    expect((await consumerInfo()).ack_floor.stream_seq).toBeLessThan(duringOutage[0]!.seq);
    // A copy of an already-published event, as a later Svix retry would bring it.
    await publishResendEvent(js, ws, sampleEmailEvent("email.opened", { emailId: "down1", createdAt: new Date(Date.UTC(2026, 10, 20, 10, 0, 3)) }), {
      svixId: "msg_open_3",
      useMsgId: false,
    });
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, stoppedAt + outageMs - Date.now()))); // the outage itself
    await ferret.restart();
    for (let i = 20; i < opens; i++) await publishOpen(i);

    // Retries back off to 30 s apart during the outage: the last one may come that long after the restart.
    const send = await waitFor(async () => {
      const current = (await api.getSend({ workspaceId: ws, emailId: "down1" })).send!;
      return current.openCount === opens ? current : undefined;
    }, { timeoutMs: 90_000, intervalMs: 250, what: `${opens} opens applied` });
    expect(send.openCount).toBe(opens);
    const timeline = await api.listSendEvents({ workspaceId: ws, emailId: "down1", pageSize: 100 });
    expect(timeline.events.map((event) => event.svixId).sort()).toEqual(Array.from({ length: opens }, (_, i) => `msg_open_${i}`).sort());
    await waitFor(async () => (await service!.context.nats.jsm.consumers.info("RESEND_EVENTS", "delivery-status")).num_ack_pending === 0);
    expect((await api.getSend({ workspaceId: ws, emailId: "down1" })).send!.openCount).toBe(opens);
    const deadLetters = await service.context.nats.jsm.streams.info(DEAD_LETTERS_STREAM, { subjects_filter: "dead.>" });
    expect(deadLetters.state.subjects ?? {}).toEqual({});
  });

  it("answers Unavailable, never Internal, to RecordSend calls cut off by the database being killed", async () => {
    const [nats, ferret] = await Promise.all([privateNats(), privateFerretDb()]);
    const killed = await startService(
      deliveryStatusService({ port: 0, outboxSweepMs: 60_000 }),
      testBaseConfig({ natsUrl: nats.url, mongoUri: ferret.url }),
    );
    try {
      const api = createClient(DeliveryStatusService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${killed.port}` }));
      const ws = uniqueName("ws");
      const answers = new Map<string, number>();
      let calls = 0;
      const record = async () => {
        const n = calls++;
        try {
          await api.recordSend({ workspaceId: ws, emailId: `e${n}`, campaignId: "c1", subscriberId: `s${n}`, recipient: `r${n}@example.test` });
          answers.set("ok", (answers.get("ok") ?? 0) + 1);
        } catch (error) {
          const code = Code[ConnectError.from(error).code];
          answers.set(code, (answers.get(code) ?? 0) + 1);
        }
      };
      // Eight callers at a time, so the kill lands in the middle of writes; bounded in count and time.
      let stopAt = Date.now() + 20_000;
      const callers = Array.from({ length: 8 }, async () => {
        while (calls < 4000 && Date.now() < stopAt) await record();
      });
      await waitFor(() => (answers.get("ok") ?? 0) >= 50, { what: "RecordSend calls succeeding" });
      await ferret.kill();
      await waitFor(() => [...answers.keys()].some((key) => key !== "ok"), { what: "calls failing after the kill" });
      stopAt = Math.min(stopAt, Date.now() + 6_000); // long enough for server selection to time out
      await Promise.all(callers);
      expect([...answers.keys()].filter((key) => key !== "ok")).toEqual(["Unavailable"]);
    } finally {
      await killed.stop();
    }
  });
});
