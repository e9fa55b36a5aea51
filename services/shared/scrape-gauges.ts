/**
 * Gauges read when /metrics is scraped: whether NATS and the database answer,
 * the streams' sizes, and per durable consumer of this service what JetStream
 * holds for it (pending, ack-pending and redelivered messages, and its dead
 * letters). One JetStream read per scrape, shared by every gauge, bounded by
 * `timeoutMs`: when NATS is down or frozen a scrape still answers at once,
 * with ngsreach_nats_up 0 and the JetStream gauges absent rather than old.
 */
import { withTimeout } from "./with-timeout.ts";
import type { MetricsRegistry } from "./metrics.ts";
import type { MongoHandles } from "./mongo.ts";
import { DEAD_LETTERS_STREAM, DOMAIN_EVENTS_STREAM, RESEND_EVENTS_STREAM, type NatsHandles } from "./nats.ts";

/** A durable consumer of this service (its dead letters are on `dead.<name>`, consumer.ts). */
export interface WatchedConsumer {
  name: string;
  stream: string;
}

export interface ScrapeGaugeDeps {
  metrics: MetricsRegistry;
  nats: Pick<NatsHandles, "jsm" | "connected">;
  mongo: Pick<MongoHandles, "ping">;
  consumers: readonly WatchedConsumer[];
  /** Longest a scrape waits for NATS or the database (default 500 ms: two reads in parallel stay under a second). */
  timeoutMs?: number;
}

const streams = [RESEND_EVENTS_STREAM, DOMAIN_EVENTS_STREAM, DEAD_LETTERS_STREAM];

interface JetStreamState {
  streams: Map<string, { messages: number; bytes: number }>;
  consumers: Map<string, { pending: number; ackPending: number; redelivered: number }>;
  deadLetters: Map<string, number>;
}

/** Registers the gauges on the service's registry. */
export function registerScrapeGauges(deps: ScrapeGaugeDeps): void {
  const { metrics, nats, mongo, consumers } = deps;
  const timeoutMs = deps.timeoutMs ?? 500;
  const readState = shared(() => readJetStreamState(nats.jsm, consumers));
  const readJetStream = async (): Promise<JetStreamState | undefined> =>
    // While disconnected, requests would wait in the client's buffer for the reconnect.
    nats.connected() ? await withTimeout(readState(), timeoutMs) : undefined;
  const ping = shared(() => mongo.ping());
  const pingDatabase = async () => (await withTimeout(ping(), timeoutMs)) === true;

  metrics.gauge("ngsreach_nats_up", "1 when NATS answered this scrape's JetStream reads in time, else 0.", [], async (gauge) => {
    gauge.set((await readJetStream()) ? 1 : 0);
  }, "min");
  metrics.gauge("ngsreach_database_up", "1 when the database answered a ping in time, else 0.", [], async (gauge) => {
    gauge.set((await pingDatabase()) ? 1 : 0);
  }, "min");

  const streamGauge = (name: string, help: string, read: (stream: { messages: number; bytes: number }) => number) =>
    metrics.gauge(name, help, ["stream"], async (gauge) => {
      const state = await readJetStream();
      gauge.reset();
      for (const [stream, values] of state?.streams ?? []) gauge.set({ stream }, read(values));
    }, "max");
  streamGauge("ngsreach_stream_messages", "Messages stored in the JetStream stream.", (stream) => stream.messages);
  streamGauge("ngsreach_stream_bytes", "Bytes stored in the JetStream stream.", (stream) => stream.bytes);

  if (consumers.length === 0) return;
  type ConsumerValues = NonNullable<ReturnType<JetStreamState["consumers"]["get"]>>;
  const consumerGauge = (name: string, help: string, read: (values: ConsumerValues) => number) =>
    metrics.gauge(name, help, ["consumer"], async (gauge) => {
      const state = await readJetStream();
      gauge.reset();
      for (const [consumer, values] of state?.consumers ?? []) gauge.set({ consumer }, read(values));
    }, "max");
  consumerGauge("ngsreach_consumer_pending_messages", "Messages of the stream the durable consumer has not been delivered yet (num_pending).", (c) => c.pending);
  consumerGauge("ngsreach_consumer_ack_pending_messages", "Messages delivered to the durable consumer and not acknowledged yet (num_ack_pending).", (c) => c.ackPending);
  consumerGauge("ngsreach_consumer_redelivered_messages", "Messages delivered to the durable consumer more than once and not acknowledged yet (num_redelivered).", (c) => c.redelivered);
  metrics.gauge("ngsreach_dead_letters", "Messages in DEAD_LETTERS that the consumer dead-lettered (subject dead.<consumer>).", ["consumer"], async (gauge) => {
    const state = await readJetStream();
    gauge.reset();
    for (const [consumer, count] of state?.deadLetters ?? []) gauge.set({ consumer }, count);
  }, "max");
}

/** Stream infos (DEAD_LETTERS with its per-subject counts) and consumer infos, each in parallel; a failed one is left out. */
async function readJetStreamState(jsm: NatsHandles["jsm"], consumers: readonly WatchedConsumer[]): Promise<JetStreamState> {
  const state: JetStreamState = { streams: new Map(), consumers: new Map(), deadLetters: new Map() };
  await Promise.allSettled([
    ...streams.map(async (stream) => {
      const info = await jsm.streams.info(stream, stream === DEAD_LETTERS_STREAM ? { subjects_filter: "dead.>" } : undefined);
      state.streams.set(stream, { messages: info.state.messages, bytes: info.state.bytes });
      if (stream !== DEAD_LETTERS_STREAM) return;
      const subjects = info.state.subjects ?? {};
      for (const { name } of consumers) state.deadLetters.set(name, subjects[`dead.${name}`] ?? 0);
    }),
    ...consumers.map(async ({ name, stream }) => {
      const info = await jsm.consumers.info(stream, name);
      state.consumers.set(name, { pending: info.num_pending, ackPending: info.num_ack_pending, redelivered: info.num_redelivered });
    }),
  ]);
  return state;
}

/**
 * One read at a time: the gauges of a scrape (and overlapping scrapes) share it, and a read still hanging
 * on a frozen server (until the client's own request timeout) is not started again by every later scrape.
 */
function shared<T>(read: () => Promise<T>): () => Promise<T> {
  let inFlight: Promise<T> | undefined;
  return () => {
    if (inFlight) return inFlight;
    const started = read();
    inFlight = started;
    void started.finally(() => {
      if (inFlight === started) inFlight = undefined;
    }).catch(() => undefined);
    return started;
  };
}

