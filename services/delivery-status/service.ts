/**
 * The delivery-status service: wires the repository, use cases, RPC routes,
 * the RESEND_EVENTS and erasure consumers and the SendRecorded outbox sweep.
 */
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { Db } from "mongodb";
import { DeliveryStatusService } from "../../gen/ngsreach/delivery/v1/delivery_status_pb.ts";
import { defaultPorts, envReader, type Env } from "../shared/config.ts";
import { erasureRequestConsumer } from "../shared/erasure-events.ts";
import { eventMessageId, eventSubject, encodeResendEvent } from "../shared/resend-events.ts";
import { parseSecretKeys, type SecretKeys } from "../shared/secret-box.ts";
import { publishTraced } from "../shared/tracing/nats-spans.ts";
import { ApiKeyRepository } from "./api-key-repository.ts";
import type { Logger } from "../shared/log.ts";
import type { MetricsRegistry } from "../shared/metrics.ts";
import type { ServiceDefinition } from "../shared/service-host.ts";
import { clickIpPolicies, defaultClickIpPolicy, type ClickIpPolicy } from "./click-ip.ts";
import { resendEventsConsumer } from "./consumer.ts";
import { loadDeliveryRetentionSettings, startDeliveryRetention, type DeliveryRetentionSettings } from "./delivery-retention.ts";
import { eraseSubscriber } from "./erasure/erase-subscriber.ts";
import { jetStreamSendRecordedPublisher, liveNotifier } from "./outbound.ts";
import { KeyRateLimiter } from "./reconcile/rate-limiter.ts";
import { loadReconcileSettings, type ReconcileSettings } from "./reconcile/reconcile-settings.ts";
import { RunRepository } from "./reconcile/run-repository.ts";
import { RunWorker } from "./reconcile/run-worker.ts";
import { silenceConsumer } from "./reconcile/silence-consumer.ts";
import { deliveryStatusRoutes } from "./rpc.ts";
import { SendsRepository } from "./sends-repository.ts";
import { sweepSendRecordedOutbox } from "./use-cases/send-recorded-outbox.ts";

/** Settings of this service beyond the shared ones. */
export interface DeliveryStatusSettings {
  readonly port: number;
  /** How often pending SendRecorded events are re-published (DELIVERY_STATUS_OUTBOX_SWEEP_SECONDS). */
  readonly outboxSweepMs: number;
  /** SECRETS_KEY, the gateway's: opens the API keys reconciliation uses. Without it, reconciliation is off. */
  readonly secretKeys?: SecretKeys;
  /** Default: the defaults of every RECONCILE_ variable. */
  readonly reconcile?: ReconcileSettings;
  /** Lifetimes of sends and finished runs; default: every variable's default. */
  readonly retention?: DeliveryRetentionSettings;
  /** How much of a click's IP address timelines keep (STORE_CLICK_IP); default truncated. */
  readonly clickIp?: ClickIpPolicy;
}

/** Reads this service's variables; errors name the variable. */
export function loadDeliveryStatusSettings(env: Env = process.env): DeliveryStatusSettings {
  const read = envReader(env);
  return Object.freeze({
    port: read.port("DELIVERY_STATUS_PORT", defaultPorts.deliveryStatus),
    outboxSweepMs: read.integer("DELIVERY_STATUS_OUTBOX_SWEEP_SECONDS", 30, 1, 86_400) * 1000,
    secretKeys: read.optionalString("SECRETS_KEY") ? parseSecretKeys(read.optionalString("SECRETS_KEY")) : undefined,
    reconcile: loadReconcileSettings(env),
    retention: loadDeliveryRetentionSettings(env),
    clickIp: read.oneOf("STORE_CLICK_IP", defaultClickIpPolicy, clickIpPolicies),
  });
}

/** The service definition the host starts. */
export function deliveryStatusService(settings: DeliveryStatusSettings): ServiceDefinition {
  return {
    name: "delivery-status",
    port: settings.port,
    build: async ({ nats, mongo, log, metrics }) => {
      const repo = new SendsRepository(mongo.db);
      await repo.ensureIndexes();
      const now = () => Date.now();
      const notify = liveNotifier(nats.nc);
      const publisher = jetStreamSendRecordedPublisher(nats.js);
      const shutdown = new AbortController();

      const sweep = async () => {
        try {
          const published = await sweepSendRecordedOutbox({ repo, publisher });
          if (published > 0) log.info("published pending SendRecorded events", { count: published });
        } catch (error) {
          log.warn("SendRecorded outbox sweep failed, will retry", { error });
        }
      };
      void sweep();
      const timer = setInterval(sweep, settings.outboxSweepMs ?? 30_000);

      // Runs of earlier starts are swept whether or not reconciliation is on now.
      const runs = new RunRepository(mongo.db);
      const retention = startDeliveryRetention(settings.retention ?? loadDeliveryRetentionSettings({}), { db: mongo.db, sends: repo, runs, log, metrics });

      const worker = settings.secretKeys ? reconcileWorker(settings, settings.secretKeys, { repo, runs, nats, mongo, log, now, metrics }) : undefined;
      worker?.start();
      if (!worker) log.info("reconciliation is off: SECRETS_KEY is not set");

      return {
        rpcServiceNames: [DeliveryStatusService.typeName],
        routes: deliveryStatusRoutes({
          repo,
          nc: nats.nc,
          notify,
          publisher,
          now,
          shutdown: shutdown.signal,
          onPublishFailure: (error) => log.warn("SendRecorded publish failed; the outbox sweep will retry", { error }),
          reconcile: worker && { runs: worker.runs, start: worker.startDeps },
        }),
        consumers: [
          resendEventsConsumer({ repo, notify, now }, settings.clickIp),
          erasureRequestConsumer("delivery-status", nats.js, (request) => eraseSubscriber({ repo, notify, now }, request)),
          ...(worker ? [silenceConsumer(worker.startDeps)] : []),
        ],
        stop: async () => {
          clearInterval(timer);
          shutdown.abort();
          await retention.stop();
          await worker?.stop();
        },
      };
    },
  };
}

/** The reconciliation worker of this instance: runs, sweep, and what starting a run needs. */
function reconcileWorker(
  settings: DeliveryStatusSettings,
  secretKeys: SecretKeys,
  { repo, runs, nats, mongo, log, now, metrics }: { repo: SendsRepository; runs: RunRepository; nats: { js: JetStreamClient }; mongo: { db: Db }; log: Logger; now: () => number; metrics: MetricsRegistry },
): RunWorker {
  const checked = metrics.counter("ngsreach_reconcile_sends_total", "Sends a reconciliation run on this instance looked up at Resend, by outcome (changed: events reconstructed; unchanged; failed).", ["outcome"]);
  const reconstructed = metrics.counter("ngsreach_reconcile_events_published_total", "Reconstructed events this instance published on RESEND_EVENTS.");
  const finished = metrics.counter("ngsreach_reconcile_runs_total", "Reconciliation runs this instance finished, by trigger and outcome.", ["trigger", "outcome"]);
  const reconcile = settings.reconcile ?? loadReconcileSettings({});
  return new RunWorker({
    runs,
    sends: repo,
    apiKeys: new ApiKeyRepository(mongo.db, secretKeys),
    limiter: new KeyRateLimiter(reconcile.api.requestsPerSecond),
    apiBaseUrl: reconcile.api.baseUrl,
    publish: async (event) => {
      await publishTraced(nats.js, eventSubject(event.workspaceId, event.type), encodeResendEvent(event), { msgID: eventMessageId(event.workspaceId, event.svixId) });
    },
    settings: reconcile,
    owner: `delivery-status-${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`,
    onChecked: (outcome, events) => {
      checked.inc({ outcome });
      reconstructed.inc(events);
    },
    onFinished: (trigger, outcome) => finished.inc({ trigger, outcome }),
    log,
    now,
  });
}
