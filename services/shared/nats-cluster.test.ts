/**
 * The streams of the messaging contract on a three-node JetStream cluster, as production runs them
 * (EVENTS_REPLICAS=3): several instances creating them at once, and losing the node that leads a stream.
 */
import { AckPolicy, DeliverPolicy, type JetStreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { privateNatsCluster, uniqueName, waitFor } from "../../test/harness.ts";
import type { NatsCluster } from "../../tools/local-servers.ts";
import { loadBaseConfig } from "./config.ts";
import { createLogger } from "./log.ts";
import { connectNats, DEAD_LETTERS_STREAM, DOMAIN_EVENTS_STREAM, ensureConsumer, ensureStreams, RESEND_EVENTS_STREAM, type NatsHandles } from "./nats.ts";

const log = createLogger({ test: "nats-cluster" }, "error");
const streams = [RESEND_EVENTS_STREAM, DOMAIN_EVENTS_STREAM, DEAD_LETTERS_STREAM];
const settings = (replicas: number) => loadBaseConfig({ EVENTS_REPLICAS: String(replicas) });
const consumerConfig = (name: string) => ({
  durable_name: name,
  ack_policy: AckPolicy.Explicit,
  deliver_policy: DeliverPolicy.All,
  filter_subjects: ["resend.events.>"],
  max_deliver: -1,
});
const outcomes = (results: PromiseSettledResult<unknown>[]) => results.map((result) => (result.status === "fulfilled" ? "ok" : String(result.reason)));

describe("JetStream on a three-node cluster", () => {
  let cluster: NatsCluster;
  /** Four connections, like four service instances, each to a different node first. */
  let instances: NatsHandles[];
  const jsm = (): JetStreamManager => instances[0]!.jsm;

  beforeAll(async () => {
    cluster = await privateNatsCluster(3);
    const urls = cluster.nodes.map((node) => node.url);
    instances = await Promise.all(
      [0, 1, 2, 3].map((i) => connectNats([...urls.slice(i % 3), ...urls.slice(0, i % 3)].join(","), `instance-${i}`, log)),
    );
  });
  afterAll(async () => {
    await Promise.all((instances ?? []).map((nats) => nats.nc.close()));
  });

  const deleteStreams = async () => {
    for (const stream of streams) await jsm().streams.delete(stream).catch(() => false);
  };
  /** Peers of a stream or consumer: its leader and replicas, as the cluster reports them. */
  const peersOf = (info: { cluster?: { leader?: string; replicas?: { name: string }[] } }) =>
    [info.cluster?.leader, ...(info.cluster?.replicas ?? []).map((peer) => peer.name)].filter(Boolean);

  it("lets four instances create the streams and a durable consumer at once, each stream on three nodes", async () => {
    await deleteStreams();
    expect(outcomes(await Promise.allSettled(instances.map((nats) => ensureStreams(nats.jsm, settings(3)))))).toEqual(["ok", "ok", "ok", "ok"]);
    for (const stream of streams) {
      const info = await jsm().streams.info(stream);
      expect(info.config.num_replicas).toBe(3);
      expect(peersOf(info)).toHaveLength(3);
    }
    const durable = uniqueName("durable");
    const consumers = await Promise.allSettled(instances.map((nats) => ensureConsumer(nats.jsm, RESEND_EVENTS_STREAM, consumerConfig(durable))));
    expect(outcomes(consumers)).toEqual(["ok", "ok", "ok", "ok"]);
    const info = await jsm().consumers.info(RESEND_EVENTS_STREAM, durable);
    expect(info.config.num_replicas ?? 0).toBe(0); // unset: the stream's count
    expect(peersOf(info)).toHaveLength(3);
  });

  it("scales streams that exist with one replica when instances restart with EVENTS_REPLICAS=3, and their durable consumers follow", async () => {
    await deleteStreams();
    await ensureStreams(jsm(), settings(1));
    const durable = uniqueName("durable");
    await ensureConsumer(jsm(), RESEND_EVENTS_STREAM, consumerConfig(durable));
    expect(peersOf(await jsm().consumers.info(RESEND_EVENTS_STREAM, durable))).toHaveLength(1);

    const restarts = await Promise.allSettled(
      instances.map(async (nats) => {
        await ensureStreams(nats.jsm, settings(3));
        await ensureConsumer(nats.jsm, RESEND_EVENTS_STREAM, consumerConfig(durable));
      }),
    );
    expect(outcomes(restarts)).toEqual(["ok", "ok", "ok", "ok"]);
    for (const stream of streams) expect((await jsm().streams.info(stream)).config.num_replicas).toBe(3);
    await waitFor(async () => peersOf(await jsm().streams.info(RESEND_EVENTS_STREAM)).length === 3, { timeoutMs: 60_000, what: "three stream peers" });
    await waitFor(async () => peersOf(await jsm().consumers.info(RESEND_EVENTS_STREAM, durable)).length === 3, {
      timeoutMs: 60_000,
      what: "the consumer on three nodes",
    });
  });

  it("keeps acknowledging publishes and delivering them when the stream leader's node is killed, and the node catches up after a restart", async () => {
    await deleteStreams();
    await ensureStreams(jsm(), settings(3));
    const durable = uniqueName("durable");
    await ensureConsumer(jsm(), RESEND_EVENTS_STREAM, consumerConfig(durable));
    const { js } = instances[1]!;
    const ws = uniqueName("ws");
    const body = new TextEncoder().encode("event");
    /** Publishes with a message id until acknowledged, as the gateway's retry (and Resend's) would. */
    const publish = async (id: string): Promise<{ duplicate: boolean; failures: number }> => {
      let failures = 0;
      const ack = await waitFor(
        () =>
          js.publish(`resend.events.${ws}.email.sent`, body, { msgID: `${ws}:${id}`, timeout: 2000 }).catch((error: unknown) => {
            failures++;
            throw error;
          }),
        { timeoutMs: 60_000, intervalMs: 100, what: `the publish of ${id} acknowledged` },
      );
      return { duplicate: ack.duplicate, failures };
    };
    for (let i = 0; i < 10; i++) await publish(`before-${i}`);

    const leader = (await jsm().streams.info(RESEND_EVENTS_STREAM)).cluster?.leader;
    const leaderNode = cluster.node(leader ?? "");
    expect(leaderNode, `stream leader ${leader}`).toBeDefined();
    const killedAt = Date.now();
    await leaderNode!.kill();

    const after = [];
    let firstAckMs = 0;
    for (let i = 0; i < 10; i++) {
      after.push(await publish(`after-${i}`));
      firstAckMs ||= Date.now() - killedAt;
    }
    const allAckedMs = Date.now() - killedAt;
    // A retry of an event stored before the leader was lost is still recognised as a duplicate.
    expect((await publish("before-3")).duplicate).toBe(true);
    expect(after.every((ack) => !ack.duplicate)).toBe(true);
    // Management requests may time out while the connection that sent them moves to another node.
    const newLeader = await waitFor(async () => (await jsm().streams.info(RESEND_EVENTS_STREAM)).cluster?.leader, { what: "the new leader" });
    expect(newLeader).not.toBe(leader);
    console.info(
      `stream leader ${leader} killed: first publish acked after ${firstAckMs} ms (${after[0]!.failures} failed attempts), all 10 after ${allAckedMs} ms; new leader ${newLeader}`,
    );

    // The durable consumer (its own replicated state, possibly led by the killed node too) delivers all 20, once each.
    const received = new Set<string>();
    const consumer = await waitFor(() => js.consumers.get(RESEND_EVENTS_STREAM, durable), { what: "the consumer" });
    await waitFor(
      async () => {
        const batch = await consumer.fetch({ max_messages: 50, expires: 1000 });
        for await (const msg of batch) {
          received.add(msg.headers?.get("Nats-Msg-Id") ?? "");
          msg.ack();
        }
        return received.size >= 20;
      },
      { timeoutMs: 60_000, what: "the consumer to receive every message" },
    );
    expect(received.size).toBe(20);
    expect(await waitFor(async () => (await jsm().streams.info(RESEND_EVENTS_STREAM)).state.messages, { what: "the stream state" })).toBe(20);

    // Back on the same ports and data, the node rejoins and holds every message again.
    await leaderNode!.restart();
    await cluster.waitReady(60_000);
    await waitFor(
      async () => {
        const response = await fetch(`http://127.0.0.1:${leaderNode!.monitorPort}/jsz?streams=true`);
        const jsz = (await response.json()) as { account_details?: { stream_detail?: { name: string; state: { messages: number } }[] }[] };
        const local = jsz.account_details?.flatMap((account) => account.stream_detail ?? []).find((stream) => stream.name === RESEND_EVENTS_STREAM);
        return local?.state.messages === 20;
      },
      { timeoutMs: 60_000, intervalMs: 200, what: `${leaderNode!.serverName} to hold the 20 messages` },
    );
  });
});
