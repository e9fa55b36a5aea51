/**
 * NATS connection and the JetStream streams of the messaging contract
 * (DESIGN.md), created or updated idempotently at start-up.
 */
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";
import { nanos } from "@nats-io/nats-core";
import {
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
  type StreamConfig,
} from "@nats-io/jetstream";
import type { Logger } from "./log.ts";

/** Verified Resend webhooks: `resend.events.<workspaceId>.<event type>`. */
export const RESEND_EVENTS_STREAM = "RESEND_EVENTS";
/** Typed events the services publish: `sends.>`, `subscriber.>`, `campaign.>`. */
export const DOMAIN_EVENTS_STREAM = "DOMAIN_EVENTS";
/** Messages a consumer could never process: `dead.<consumer>`. */
export const DEAD_LETTERS_STREAM = "DEAD_LETTERS";

const day = 86_400_000;

export interface StreamSettings {
  eventsMaxAgeMs: number;
  duplicateWindowMs: number;
}

/** The stream configurations, from settings (exported for tests and the CLI). */
export function streamConfigs(settings: StreamSettings): (Partial<StreamConfig> & { name: string })[] {
  const common = {
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    duplicate_window: nanos(settings.duplicateWindowMs),
  };
  return [
    { ...common, name: RESEND_EVENTS_STREAM, subjects: ["resend.events.>"], max_age: nanos(settings.eventsMaxAgeMs) },
    {
      ...common,
      name: DOMAIN_EVENTS_STREAM,
      subjects: ["sends.>", "subscriber.>", "campaign.>"],
      max_age: nanos(settings.eventsMaxAgeMs),
    },
    { ...common, name: DEAD_LETTERS_STREAM, subjects: ["dead.>"], max_age: nanos(30 * day) },
  ];
}

/** Creates each stream, or updates it when it exists with other settings. */
export async function ensureStreams(jsm: JetStreamManager, settings: StreamSettings): Promise<void> {
  for (const config of streamConfigs(settings)) {
    const name = config.name;
    const exists = await jsm.streams.info(name).then(
      () => true,
      () => false,
    );
    if (exists) await jsm.streams.update(name, config);
    else await jsm.streams.add(config);
  }
}

export interface NatsHandles {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** False between a disconnect and the reconnect (the connection object stays open meanwhile). */
  connected(): boolean;
}

/** Connects (retrying forever once connected; failing fast at start-up) and opens JetStream. */
export async function connectNats(url: string, name: string, log: Logger): Promise<NatsHandles> {
  let nc: NatsConnection;
  try {
    // noAsyncTraces: no stack-trace Error per request (measured ~7 % of the gateway under load).
    nc = await connect({ servers: url, name, maxReconnectAttempts: -1, reconnectTimeWait: 500, timeout: 5000, noAsyncTraces: true });
  } catch (error) {
    throw new Error(`cannot connect to NATS at ${url} (set NATS_URL): ${String(error)}`, { cause: error });
  }
  let connected = true;
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type !== "disconnect" && status.type !== "reconnect") continue;
      connected = status.type === "reconnect";
      log.warn(`nats ${status.type}`, { server: url });
    }
  })();
  const jsm = await jetstreamManager(nc, { timeout: 5000 });
  const js = jetstream(nc, { timeout: 5000 });
  return { nc, js, jsm, connected: () => connected && !nc.isClosed() };
}
