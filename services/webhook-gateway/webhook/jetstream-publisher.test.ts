import { jetstream } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../shared/log.ts";
import { connectNats, ensureStreams, RESEND_EVENTS_STREAM, type NatsHandles } from "../../shared/nats.ts";
import { privateNats, testBaseConfig, uniqueName } from "../../../test/harness.ts";
import type { LocalServer } from "../../../tools/local-servers.ts";
import { PublishError, startJetStreamPublisher } from "./jetstream-publisher.ts";

describe("JetStream publisher (the gateway's js.publish)", () => {
  let nats: LocalServer;
  let handles: NatsHandles;

  beforeAll(async () => {
    nats = await privateNats();
    handles = await connectNats(nats.url, "publisher-test", createLogger({}, "error"));
    await ensureStreams(handles.jsm, testBaseConfig({ natsUrl: nats.url }));
  });
  afterAll(async () => handles?.nc.close());

  const stored = async (subject: string) => {
    const info = await handles.jsm.streams.info(RESEND_EVENTS_STREAM, { subjects_filter: subject });
    return Object.values(info.state.subjects ?? {}).reduce((sum, n) => sum + n, 0);
  };

  it("stores each message once, resolves after the ack, reports duplicates by message id — also for many at once", async () => {
    const publisher = startJetStreamPublisher(handles.nc, 3000);
    const ws = uniqueName("ws");
    const subject = `resend.events.${ws}.email_sent`;
    const ids = Array.from({ length: 500 }, (_, i) => `${ws}:msg_${i}`);
    const first = await Promise.all(ids.map((id) => publisher.publish(subject, new TextEncoder().encode(id), id)));
    expect(first.every((result) => result.duplicate === false)).toBe(true);
    const again = await Promise.all(ids.slice(0, 50).map((id) => publisher.publish(subject, new Uint8Array([1]), id)));
    expect(again.every((result) => result.duplicate === true)).toBe(true);
    expect(await stored(subject)).toBe(500);

    // What it stored is what js.publish would have: same subject, payload and Nats-Msg-Id header.
    const js = jetstream(handles.nc);
    const viaClient = await js.publish(subject, new Uint8Array([2]), { msgID: `${ws}:msg_7` });
    expect(viaClient.duplicate).toBe(true);
    const message = await handles.jsm.streams.getMessage(RESEND_EVENTS_STREAM, { last_by_subj: subject });
    expect(message?.header.get("Nats-Msg-Id")).toBe(`${ws}:msg_499`);
    expect(new TextDecoder().decode(message!.data)).toBe(`${ws}:msg_499`);
    publisher.close();
  });

  it("rejects when no stream takes the subject", async () => {
    const publisher = startJetStreamPublisher(handles.nc, 3000);
    await expect(publisher.publish(`nostream.${uniqueName("x")}`, new Uint8Array([1]), "id-1")).rejects.toBeInstanceOf(PublishError);
    publisher.close();
  });

  it("rejects after the timeout when JetStream does not answer, and when the connection is closed", async () => {
    const own = await privateNats();
    const nc = (await connectNats(own.url, "publisher-timeout", createLogger({}, "error"))).nc;
    const admin = await connectNats(own.url, "publisher-streams", createLogger({}, "error"));
    await ensureStreams(admin.jsm, testBaseConfig({ natsUrl: own.url }));
    await admin.nc.close();
    const publisher = startJetStreamPublisher(nc, 300);
    await expect(publisher.publish("resend.events.ws.email_sent", new Uint8Array([1]), "ok-1")).resolves.toEqual({ duplicate: false });
    await own.pause();
    try {
      const started = Date.now();
      await expect(publisher.publish("resend.events.ws.email_sent", new Uint8Array([1]), "late-1")).rejects.toThrow(/not acknowledged within 300 ms/);
      expect(Date.now() - started).toBeLessThan(2500);
    } finally {
      own.resume();
    }
    await nc.close();
    await expect(publisher.publish("resend.events.ws.email_sent", new Uint8Array([1]), "closed-1")).rejects.toBeInstanceOf(PublishError);
    publisher.close();
  });
});
