/**
 * Faults: the database down while events arrive, and a crash between the
 * state write and the publish of its event.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sampleEmailEvent } from "../../cli/resend-samples.ts";
import { privateFerretDb, privateNats, testBaseConfig, uniqueName, waitFor } from "../../test/harness.ts";
import { publishResendEvent } from "../../test/publish-events.ts";
import type { BaseConfig } from "../shared/config.ts";
import { RESEND_EVENTS_STREAM } from "../shared/nats.ts";
import { consumerNames } from "./consumer.ts";
import { outboxEntry } from "./outbox.ts";
import { SubscriberRepository } from "./subscriber-repository.ts";
import { addManually, newSubscriber } from "./subscriber-state.ts";
import { publishedEvents, publishSendRecorded, startSuppression, waitIdle, type Harness } from "../../test/support/suppression-service.ts";

let config: BaseConfig;
let ferret: Awaited<ReturnType<typeof privateFerretDb>>;
let h: Harness | undefined;
beforeAll(async () => {
  const [nats, db] = await Promise.all([privateNats(), privateFerretDb()]);
  ferret = db;
  config = testBaseConfig({ natsUrl: nats.url, mongoUri: db.url });
});
afterAll(async () => h?.service.stop());

describe("the suppression service under faults", () => {
  it("loses nothing while the database is down and answers Unavailable meanwhile", async () => {
    h = await startSuppression(config);
    const { service, client } = h;
    const ws = uniqueName("ws");
    await ferret.stop();
    try {
      await publishResendEvent(service.context.nats.js, ws, sampleEmailEvent("email.bounced", { emailId: "d1", to: ["down@x.com"], bounce: { type: "Permanent", subType: "NoEmail" } }));
      await publishResendEvent(service.context.nats.js, ws, sampleEmailEvent("email.complained", { emailId: "d2", to: ["a@x.com", "b@x.com"] }));
      await publishSendRecorded(service, { workspaceId: ws, emailId: "d2", campaignId: "c", subscriberId: "sub_b", recipient: "b@x.com" });
      await waitFor(async () => {
        const info = await service.context.nats.jsm.consumers.info(RESEND_EVENTS_STREAM, consumerNames.events);
        return info.delivered.consumer_seq >= 1;
      }, { what: "the consumer tried the bounce" });
      const error = await client.checkSuppressions({ workspaceId: ws, emails: ["down@x.com"] }).catch((e: unknown) => e);
      expect(ConnectError.from(error).code).toBe(Code.Unavailable);
    } finally {
      await ferret.restart();
    }
    await waitIdle(service);
    await waitFor(async () => {
      const results = (await client.checkSuppressions({ workspaceId: ws, emails: ["down@x.com", "a@x.com", "b@x.com"] })).results;
      return results.map((r) => r.suppressed).join() === "true,false,true";
    }, { what: "both suppressions applied after the database came back", timeoutMs: 30_000 });
    await waitFor(async () => (await publishedEvents(service, ws)).suppressed.length === 2, { what: "two events" });
    expect((await publishedEvents(service, ws)).suppressed.map((e) => e.email).sort()).toEqual(["b@x.com", "down@x.com"]);
  });

  it("publishes, exactly once, an event whose write happened but whose publish did not (crash in between)", async () => {
    await h?.service.stop();
    h = undefined;
    const ws = uniqueName("ws");
    // What a crash right after the state write leaves behind: the state, its outbox entry, the pending mark.
    const client = new MongoClient(config.mongoUri, { retryWrites: false });
    try {
      const repository = new SubscriberRepository(client.db(config.mongoDatabase));
      const outcome = addManually(newSubscriber(ws, "crash@x.com", 1), { reason: "manual", subscriberId: "s", actor: "ops", note: "n", atMs: 1000 });
      const state = { ...outcome.state, version: 1 };
      await repository.markOutboxPending(ws, "crash@x.com", state.version, 1000);
      expect(await repository.save(state, [outboxEntry(state, outcome.transition!)])).toBe("saved");
    } finally {
      await client.close();
    }

    h = await startSuppression(config);
    await waitFor(async () => (await publishedEvents(h!.service, ws)).suppressed.length === 1, { what: "the swept event" });
    await h.service.stop();
    h = await startSuppression(config, { outboxSweepMs: 1000 });
    const { subscriber } = await h.client.getSubscriber({ workspaceId: ws, subscriber: { case: "email", value: "crash@x.com" } });
    expect(subscriber?.suppression?.actor).toBe("ops");
    // A restart and further sweeps find nothing left to publish.
    await waitFor(async () => {
      const repository = new SubscriberRepository(h!.service.context.mongo.db);
      return (await repository.outboxPending(10)).length === 0 && (await repository.get(ws, "crash@x.com"))?.outbox.length === 0;
    }, { what: "outbox drained" });
    const events = await publishedEvents(h.service, ws);
    expect(events.suppressed).toHaveLength(1);
    expect(events.msgIds).toEqual([`${ws}:crash@x.com:v1`]);
  });
});
