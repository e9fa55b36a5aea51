/**
 * NATS connection and the JetStream streams of the messaging contract
 * (DESIGN.md), created or updated idempotently at start-up.
 */
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";
import { nanos } from "@nats-io/nats-core";
import {
  DiscardPolicy,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
  type ConsumerConfig,
  type ConsumerInfo,
  type JetStreamClient,
  type JetStreamManager,
  type StreamConfig,
} from "@nats-io/jetstream";
import { isTransientFailure } from "./failures.ts";
import type { Logger } from "./log.ts";

/** Verified Resend webhooks: `resend.events.<workspaceId>.<event type>`. */
export const RESEND_EVENTS_STREAM = "RESEND_EVENTS";
/** Typed events the services publish: `sends.>`, `subscriber.>`, `campaign.>`, `audit.>`, `webhooks.>`, `erasure.>`. */
export const DOMAIN_EVENTS_STREAM = "DOMAIN_EVENTS";
/** Messages a consumer could never process: `dead.<consumer>`. */
export const DEAD_LETTERS_STREAM = "DEAD_LETTERS";

const day = 86_400_000;

export interface StreamSettings {
  eventsMaxAgeMs: number;
  duplicateWindowMs: number;
  /** Copies of each stream (EVENTS_REPLICAS); more than 1 needs a JetStream cluster. Default 1. */
  eventsReplicas?: number;
}

/** The stream configurations, from settings (exported for tests and the CLI). */
export function streamConfigs(settings: StreamSettings): (Partial<StreamConfig> & { name: string })[] {
  const common = {
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    duplicate_window: nanos(settings.duplicateWindowMs),
    num_replicas: settings.eventsReplicas ?? 1,
  };
  return [
    { ...common, name: RESEND_EVENTS_STREAM, subjects: ["resend.events.>"], max_age: nanos(settings.eventsMaxAgeMs) },
    {
      ...common,
      name: DOMAIN_EVENTS_STREAM,
      // A subject added here reaches a stream created before it through ensureStreams' update.
      subjects: ["sends.>", "subscriber.>", "campaign.>", "audit.>", "webhooks.>", "erasure.>", "workspace.>"],
      max_age: nanos(settings.eventsMaxAgeMs),
    },
    { ...common, name: DEAD_LETTERS_STREAM, subjects: ["dead.>"], max_age: nanos(30 * day) },
  ];
}

/** JetStream API error codes this module acts on (nats-server errors.json). */
const apiCodes = Object.freeze({
  clusterNotAvailable: 10008, // no meta leader (yet), e.g. while a cluster forms or elects
  noSuitablePeers: 10005, // peers not known yet, or too few online for the replica count
  insufficientResources: 10023,
  streamNameExists: 10058, // "stream name already in use with a different configuration"
  streamNotFound: 10059,
  replicasNotSupported: 10074, // num_replicas > 1 on a server that is not clustered
  consumerNameExists: 10013,
  consumerAlreadyExists: 10148, // create of an existing consumer with a different configuration
  consumerNotFound: 10014,
});

function apiCode(error: unknown): number | undefined {
  return error instanceof JetStreamApiError ? error.code : undefined;
}

/**
 * Creates each stream, or updates it when it exists with other settings. Safe when several instances
 * start at once: a create of an existing identical stream succeeds, a different one is updated, and the
 * answers a cluster gives while it forms, elects or applies a concurrent request are retried.
 */
export async function ensureStreams(jsm: JetStreamManager, settings: StreamSettings): Promise<void> {
  for (const config of streamConfigs(settings)) {
    await retryingJetStream(`stream ${config.name}`, async () => {
      try {
        await jsm.streams.add(config);
      } catch (error) {
        if (apiCode(error) !== apiCodes.streamNameExists) throw error;
        await jsm.streams.update(config.name, config);
      }
    });
  }
}

/**
 * Creates a durable consumer, or updates it when it exists with other settings; as race-safe as
 * ensureStreams. Resolves with its info once it answers: on a cluster a new consumer's replicas must
 * elect a leader first (four instances starting at once on a fresh cluster saw the info request right
 * after the create time out). `num_replicas` is left unset on purpose: a durable consumer then has its
 * stream's replica count, and the server rescales it when the stream's replicas change.
 */
export async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  config: Partial<ConsumerConfig> & { durable_name: string },
): Promise<ConsumerInfo> {
  return await retryingJetStream(`consumer ${config.durable_name} of ${stream}`, async () => {
    try {
      await jsm.consumers.add(stream, config);
    } catch (error) {
      const code = apiCode(error);
      if (code !== apiCodes.consumerAlreadyExists && code !== apiCodes.consumerNameExists) throw error;
      await jsm.consumers.update(stream, config.durable_name, config);
    }
    return await jsm.consumers.info(stream, config.durable_name);
  });
}

/**
 * Answers that mean "ask again shortly". Measured on a local three-node cluster: four instances creating
 * or updating the R3 streams at once got no answer within 5 s for about half of their requests, while
 * the stream ended up as asked.
 */
function isTransient(error: unknown): boolean {
  // NATS timeouts, no responders (a node still starting its JetStream), no quorum: failures.ts decides.
  if (isTransientFailure(error)) return true;
  const code = apiCode(error);
  return (
    code === apiCodes.clusterNotAvailable ||
    code === apiCodes.noSuitablePeers ||
    code === apiCodes.insufficientResources ||
    code === apiCodes.streamNotFound || // a consumer of a stream another request is still creating
    // "Not found" right after a create or an "already exists" answer: the cluster catching up (CI saw
    // delivery-status exit with it at start-up on three nodes, before the consumer's replicas elected a leader).
    code === apiCodes.consumerNotFound
  );
}

const attempts = 6;

async function retryingJetStream<T>(what: string, attempt: () => Promise<T>): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      if (n < attempts && isTransient(error)) {
        await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 250 * 2 ** (n - 1))));
        continue;
      }
      const hint = apiCode(error) === apiCodes.replicasNotSupported ? " (EVENTS_REPLICAS above 1 needs a JetStream cluster)" : "";
      const tries = n > 1 ? ` after ${n} attempts` : "";
      throw new Error(`cannot create or update JetStream ${what}${tries}: ${String(error)}${hint}`, { cause: error });
    }
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
    // A list of servers (a cluster) is passed as such: the client does not split a comma-separated string.
    const servers = url.split(",").map((server) => server.trim());
    nc = await connect({ servers, name, maxReconnectAttempts: -1, reconnectTimeWait: 500, timeout: 5000, noAsyncTraces: true });
  } catch (error) {
    throw new Error(`cannot connect to NATS at ${url} (set NATS_URL): ${String(error)}`, { cause: error });
  }
  let connected = true;
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type !== "disconnect" && status.type !== "reconnect") continue;
      connected = status.type === "reconnect";
      log.warn(`nats ${status.type}`, { server: status.server });
    }
  })();
  const jsm = await jetstreamManager(nc, { timeout: 5000 });
  const js = jetstream(nc, { timeout: 5000 });
  return { nc, js, jsm, connected: () => connected && !nc.isClosed() };
}
