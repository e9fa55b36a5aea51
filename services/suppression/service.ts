/**
 * The suppression service: settings, and what it builds from the shared
 * context (repositories, use-case dependencies, RPCs, consumers, outbox sweep).
 */
import { defaultPorts, envReader, type Env } from "../shared/config.ts";
import type { ServiceDefinition } from "../shared/service-host.ts";
import { SuppressionService } from "../../gen/ngsreach/suppression/v1/suppression_pb.ts";
import { resendEventsConsumer, sendRecordedConsumer } from "./consumer.ts";
import { KeyedLock } from "../shared/keyed-lock.ts";
import { OutboxPublisher } from "./outbox.ts";
import { registerSuppressionRpc } from "./rpc.ts";
import { SendRepository } from "./send-repository.ts";
import type { SoftBouncePolicy } from "./soft-bounce-policy.ts";
import { SubscriberRepository, type LookupStrategy } from "./subscriber-repository.ts";
import type { SuppressionDeps } from "./use-cases/deps.ts";
import { sweepOutbox } from "./use-cases/sweep-outbox.ts";
import { CheckIndex, type CheckIndexSettings } from "./check-index/check-index.ts";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { DeliveryStatusService } from "../../gen/ngsreach/delivery/v1/delivery_status_pb.ts";
import { erasureRequestConsumer } from "../shared/erasure-events.ts";
import { parseSecretKeys, type SecretKeys } from "../shared/secret-box.ts";
import { AddressHasher } from "./erasure/address-hash.ts";
import { eraseAddresses } from "./erasure/erase-addresses.ts";
import { ErasureRepository } from "./erasure/erasure-repository.ts";
import { erasureProgressConsumer } from "./erasure/erasure-progress.ts";
import { sweepErasureOutbox } from "./erasure/request-erasure.ts";

/** Settings of this service beyond the shared ones. */
export interface SuppressionSettings {
  readonly port: number;
  readonly softBouncePolicy: SoftBouncePolicy;
  /** How often pending outbox entries are swept (start-up always sweeps). */
  readonly outboxSweepMs: number;
  /** How CheckSuppressions reads many addresses (README, Configuration): from the check index, or the database. */
  readonly lookup: LookupStrategy | "index";
  /** The check index's wait for this instance to apply what was published, and its size limit. */
  readonly checkIndex: CheckIndexSettings;
  /** Lookups in flight per CheckSuppressions call with the find-one strategy. */
  readonly checkConcurrency: number;
  /** SECRETS_KEY: the keys erased addresses are hashed with. Without it, EraseSubscriber is refused. */
  readonly secretKeys?: SecretKeys;
  /** Where ExportSubscriberData reads sends (DELIVERY_STATUS_URL, else loopback on DELIVERY_STATUS_PORT). */
  readonly deliveryStatusUrl: string;
}

/** Reads this service's variables; errors name the variable. */
export function loadSuppressionSettings(env: Env = process.env): SuppressionSettings {
  const read = envReader(env);
  return Object.freeze({
    port: read.port("SUPPRESSION_PORT", defaultPorts.suppression),
    softBouncePolicy: Object.freeze({
      limit: read.integer("SUPPRESSION_SOFT_BOUNCE_LIMIT", 3, 1, 1000),
      windowMs: read.integer("SUPPRESSION_SOFT_BOUNCE_WINDOW_DAYS", 30, 1, 3650) * 86_400_000,
      resetOnDelivery: read.oneOf("SUPPRESSION_SOFT_BOUNCE_RESET_ON_DELIVERY", "true", ["true", "false"] as const) === "true",
      replayHorizonMs: read.integer("SUPPRESSION_REPLAY_HORIZON_DAYS", 39, 1, 3650) * 86_400_000,
    }),
    outboxSweepMs: read.integer("SUPPRESSION_OUTBOX_SWEEP_SECONDS", 30, 1, 86_400) * 1000,
    lookup: lookupOf(read.oneOf("SUPPRESSION_CHECK_LOOKUP", "index", ["index", "auto", "find-one", "in"] as const)),
    checkIndex: Object.freeze({
      waitMs: read.integer("SUPPRESSION_CHECK_INDEX_WAIT_MS", 250, 1, 10_000),
      maxEntries: read.integer("SUPPRESSION_CHECK_INDEX_MAX", 5_000_000, 1, 100_000_000),
    }),
    checkConcurrency: read.integer("SUPPRESSION_CHECK_CONCURRENCY", 16, 1, 256),
    secretKeys: read.optionalString("SECRETS_KEY") ? parseSecretKeys(read.optionalString("SECRETS_KEY")) : undefined,
    deliveryStatusUrl: read.url(
      "DELIVERY_STATUS_URL",
      `http://127.0.0.1:${read.port("DELIVERY_STATUS_PORT", defaultPorts.deliveryStatus)}`,
      ["http:", "https:"],
    ),
  });
}

/**
 * The in-memory check index answers in well under a millisecond per address on every database and stays
 * current across instances (check-index/check-index.ts); `in` (one `_id` `$in` per 1,000 addresses) is
 * the database read it falls back to; find-one is for a FerretDB without patch 6, which decodes the whole
 * collection for an `$in`. "auto" is kept as a name of "in".
 */
const lookupOf = (name: "index" | "auto" | "find-one" | "in"): SuppressionSettings["lookup"] => (name === "auto" ? "in" : name);

/** The service definition the host starts. */
export function suppressionService(settings: Partial<SuppressionSettings> & { port: number }): ServiceDefinition {
  const full = { ...loadSuppressionSettings({}), ...settings };
  return {
    name: "suppression",
    port: full.port,
    build: async ({ mongo, nats, log, metrics }) => {
      // Every save is guarded by {_id, version}, on MongoDB and FerretDB alike (subscriber-repository.ts).
      const subscribers = new SubscriberRepository(mongo.db, { lookupConcurrency: full.checkConcurrency });
      const sends = new SendRepository(mongo.db);
      await subscribers.ensureIndexes();
      const deps: SuppressionDeps = {
        subscribers,
        sends,
        outbox: new OutboxPublisher(nats.js, subscribers, log),
        lock: new KeyedLock(),
        policy: full.softBouncePolicy,
        lookup: full.lookup === "index" ? "in" : full.lookup,
        log,
        ...(full.secretKeys ? { hasher: new AddressHasher(full.secretKeys) } : {}),
        now: () => Date.now(),
      };
      if (full.lookup === "index") {
        deps.checkIndex = new CheckIndex({ js: nats.js, subscribers, hasher: deps.hasher, log, metrics }, full.checkIndex);
        await deps.checkIndex.start();
      }
      const erasures = new ErasureRepository(mongo.db);
      const erasureDeps = { suppression: deps, erasures, js: nats.js, log };
      const deliveryStatus = createClient(DeliveryStatusService, createGrpcTransport({ baseUrl: full.deliveryStatusUrl }));

      let sweeping = Promise.resolve();
      const sweep = () => {
        sweeping = sweeping
          .then(() => sweepOutbox(deps))
          .then(() => sweepErasureOutbox(erasureDeps))
          .then(
            () => {},
            (error: unknown) => log.warn("outbox sweep failed; next one retries", { error }),
          );
      };
      sweep();
      const timer = setInterval(sweep, full.outboxSweepMs);

      return {
        rpcServiceNames: [SuppressionService.typeName],
        routes: (router) => registerSuppressionRpc(router, deps, { erasures, js: nats.js, log, deliveryStatus }),
        consumers: [
          resendEventsConsumer(deps),
          sendRecordedConsumer(deps),
          erasureRequestConsumer("suppression", nats.js, (request) => eraseAddresses(deps, request)),
          erasureProgressConsumer({ erasures, jsm: nats.jsm, now: deps.now }),
        ],
        stop: async () => {
          clearInterval(timer);
          await deps.checkIndex?.stop();
          await sweeping;
        },
      };
    },
  };
}
