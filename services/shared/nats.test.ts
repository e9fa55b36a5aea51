import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nanos } from "@nats-io/nats-core";
import { AckPolicy } from "@nats-io/jetstream";
import { loadBaseConfig } from "./config.ts";
import { createLogger } from "./log.ts";
import { connectNats, DEAD_LETTERS_STREAM, DOMAIN_EVENTS_STREAM, ensureConsumer, ensureStreams, RESEND_EVENTS_STREAM, type NatsHandles } from "./nats.ts";
import { privateNats } from "../../test/harness.ts";

describe("the JetStream streams of the messaging contract", () => {
  let nats: NatsHandles;
  beforeAll(async () => {
    nats = await connectNats((await privateNats()).url, "streams-test", createLogger({}, "error"));
  });
  afterAll(async () => nats?.nc.close());

  it("are created with the defaults of DESIGN.md: file storage, 7 days, 2 min duplicate window, dead letters 30 days", async () => {
    await ensureStreams(nats.jsm, loadBaseConfig({}));
    const events = (await nats.jsm.streams.info(RESEND_EVENTS_STREAM)).config;
    expect(events).toMatchObject({ subjects: ["resend.events.>"], storage: "file", max_age: nanos(7 * 86_400_000), duplicate_window: nanos(120_000) });
    expect((await nats.jsm.streams.info(DOMAIN_EVENTS_STREAM)).config.subjects).toEqual(["sends.>", "subscriber.>", "campaign.>", "audit.>", "webhooks.>", "erasure.>", "workspace.>"]);
    expect((await nats.jsm.streams.info(DEAD_LETTERS_STREAM)).config).toMatchObject({ subjects: ["dead.>"], max_age: nanos(30 * 86_400_000) });
  });

  it("are updated in place, keeping their messages, when the configured retention changes", async () => {
    await ensureStreams(nats.jsm, loadBaseConfig({}));
    await nats.js.publish("resend.events.ws1.email.sent", new Uint8Array([1]));
    await ensureStreams(nats.jsm, loadBaseConfig({ EVENTS_MAX_AGE_DAYS: "3", EVENTS_DUPLICATE_WINDOW_SECONDS: "60" }));
    const info = await nats.jsm.streams.info(RESEND_EVENTS_STREAM);
    expect(info.config).toMatchObject({ max_age: nanos(3 * 86_400_000), duplicate_window: nanos(60_000) });
    expect(info.state.messages).toBeGreaterThanOrEqual(1);
  });

  it("gain the subjects added to the contract since they were created, keeping their messages", async () => {
    await ensureStreams(nats.jsm, loadBaseConfig({}));
    await nats.jsm.streams.update(DOMAIN_EVENTS_STREAM, { subjects: ["sends.>", "subscriber.>", "campaign.>", "audit.>"] });
    await nats.js.publish("sends.ws1.recorded", new Uint8Array([1]));
    await ensureStreams(nats.jsm, loadBaseConfig({}));
    const info = await nats.jsm.streams.info(DOMAIN_EVENTS_STREAM);
    expect(info.config.subjects).toEqual(expect.arrayContaining(["webhooks.>", "erasure.>"]));
    expect(info.state.messages).toBeGreaterThanOrEqual(1);
    expect((await nats.js.publish("webhooks.ws1.silent", new Uint8Array([1]))).stream).toBe(DOMAIN_EVENTS_STREAM);
  });

  it("keep a durable consumer, created or updated in place when its settings change, by instances starting together", async () => {
    await ensureStreams(nats.jsm, loadBaseConfig({}));
    const base = { durable_name: "settings-change", ack_policy: AckPolicy.Explicit, filter_subjects: ["resend.events.>"] };
    await Promise.all([1, 2, 3].map(() => ensureConsumer(nats.jsm, RESEND_EVENTS_STREAM, { ...base, ack_wait: nanos(10_000) })));
    await Promise.all([1, 2, 3].map(() => ensureConsumer(nats.jsm, RESEND_EVENTS_STREAM, { ...base, ack_wait: nanos(30_000) })));
    expect((await nats.jsm.consumers.info(RESEND_EVENTS_STREAM, "settings-change")).config.ack_wait).toBe(nanos(30_000));
  });

  it("are refused with more than one replica on a single server, with a message naming EVENTS_REPLICAS", async () => {
    const attempt = ensureStreams(nats.jsm, loadBaseConfig({ EVENTS_REPLICAS: "3" }));
    await expect(attempt).rejects.toThrow(/^cannot create or update JetStream stream RESEND_EVENTS: .*EVENTS_REPLICAS above 1 needs a JetStream cluster/);
  });
});
