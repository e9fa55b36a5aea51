/**
 * The webhook gateway: verifies Resend webhooks and stores them in JetStream,
 * and hosts WorkspaceSettingsService (webhook secrets and webhook health).
 */
import { WorkspaceSettingsService } from "../../gen/ngsreach/workspace/v1/workspace_settings_pb.ts";
import { availableParallelism } from "node:os";
import { ConfigError, defaultPorts, envReader, type Env } from "../shared/config.ts";
import { erasureRequestConsumer } from "../shared/erasure-events.ts";
import { KeyedLock } from "../shared/keyed-lock.ts";
import type { ServiceDefinition } from "../shared/service-host.ts";
import { canRunWorkerProcesses } from "../shared/worker-processes.ts";
import { loadGatewayRetentionSettings, startGatewayRetention, type GatewayRetentionSettings } from "./gateway-retention.ts";
import { HealthRecorder } from "./health/health-recorder.ts";
import { HealthRepository } from "./health/health-repository.ts";
import { sendsRecordedConsumer } from "./health/sends-recorded-consumer.ts";
import { silenceCheckIntervalMs } from "./health/silence.ts";
import { jetStreamSilencePublisher } from "./health/silence-events.ts";
import { startSilenceMonitor } from "./health/silence-monitor.ts";
import { SilenceRepository } from "./health/silence-repository.ts";
import { workspaceSettingsRoutes } from "./rpc.ts";
import { webhookHttpHandler } from "./webhook/http-handler.ts";
import { SourceLimiter } from "./webhook/source-limiter.ts";
import { undecryptableReporter } from "./webhook/undecryptable-report.ts";
import { MailgunTokenRepository } from "./webhook/mailgun-token-repository.ts";
import { snsSubscriptionConfirmer } from "./webhook/sns-subscription.ts";
import { providerAdapters } from "./providers/adapters.ts";
import { startJetStreamPublisher } from "./webhook/jetstream-publisher.ts";
import { envelopePublisher } from "./webhook/receive-webhook.ts";
import { AuditRepository } from "./workspace/audit-repository.ts";
import { auditEntriesConsumer, auditEntriesStoredThroughErasure } from "./workspace/audit-consumer.ts";
import { eraseAuditTargets } from "./workspace/erase-audit-targets.ts";
import { announceSecretChange, listenForSecretChanges } from "./workspace/invalidation.ts";
import { openSecret, parseSecretKeys, resealSecret, sealedKeyId, sealSecret, type SecretKeys, type SecretPurpose } from "./workspace/secret-box.ts";
import { KnownWorkspaces } from "./workspace/known-workspaces.ts";
import { SecretCache } from "./workspace/secret-cache.ts";
import { sweepSecretOutbox, type SecretOutboxDeps } from "./workspace/secret-outbox.ts";
import { WorkspaceRepository } from "./workspace/workspace-repository.ts";

/** Settings of the gateway beyond the shared ones. */
export interface GatewaySettings {
  readonly port: number;
  /** GATEWAY_PROCESSES: worker processes sharing the port (main.ts; default one per core on Node.js, 1 on Deno). */
  readonly processes: number;
  readonly secretKeys: SecretKeys;
  readonly maxBodyBytes: number;
  readonly publishTimeoutMs: number;
  /** How long a webhook keeps retrying an unacknowledged publish before it is answered 503 (0: no retry). */
  readonly publishRetryMs: number;
  readonly secretCacheMs: number;
  readonly unknownWorkspaceCacheMs: number;
  readonly healthFlushMs: number;
  /** Failed verifications in a row after which a source is answered 429 for a workspace (0: never). */
  readonly sourceFailureBurst: number;
  /** How often secret changes a crash or an outage left unrecorded or unannounced are finished (start-up always sweeps). */
  readonly outboxSweepMs: number;
  /** RECONCILE_SILENCE_MINUTES: sends recorded and no verified webhook for this long make a workspace silent (gap detection). */
  readonly silenceMs: number;
  /** For tests only: one more URL prefix accepted for SNS signing certificates and subscribe URLs (loopback http allowed). */
  readonly snsExtraCertUrlPrefix?: string;
  /** Lifetimes of health hours and audit entries; default: every variable's default. */
  readonly retention?: GatewayRetentionSettings;
}

/** Reads the gateway's variables; errors name the variable. */
export function loadGatewaySettings(env: Env = process.env): GatewaySettings {
  const read = envReader(env);
  return Object.freeze({
    port: read.port("GATEWAY_PORT", defaultPorts.gateway),
    processes: readProcessCount(read),
    secretKeys: parseSecretKeys(read.optionalString("SECRETS_KEY")),
    maxBodyBytes: read.integer("WEBHOOK_MAX_BODY_BYTES", 256 * 1024, 1024, 16 * 1024 * 1024),
    publishTimeoutMs: read.integer("WEBHOOK_PUBLISH_TIMEOUT_MS", 3000, 100, 60_000),
    // Longer than a JetStream stream's leader election after its leader's node died (4–9 s, measured up to 8 s
    // on a loaded machine), shorter than the 15 s Svix waits for an answer (docs.svix.com/retries).
    publishRetryMs: read.integer("WEBHOOK_PUBLISH_RETRY_MS", 10_000, 0, 60_000),
    secretCacheMs: read.integer("WEBHOOK_SECRET_CACHE_SECONDS", 30, 1, 3600) * 1000,
    unknownWorkspaceCacheMs: read.integer("WEBHOOK_UNKNOWN_CACHE_SECONDS", 5, 1, 3600) * 1000,
    healthFlushMs: read.integer("WEBHOOK_HEALTH_FLUSH_MS", 2000, 100, 60_000),
    sourceFailureBurst: read.integer("WEBHOOK_SOURCE_FAILURE_BURST", 20, 0, 100_000),
    outboxSweepMs: read.integer("GATEWAY_OUTBOX_SWEEP_SECONDS", 10, 1, 86_400) * 1000,
    // Fractions are for tests (0.05: 3 s).
    silenceMs: read.number("RECONCILE_SILENCE_MINUTES", 30, 0.001, 10_080) * 60_000,
    snsExtraCertUrlPrefix: read.optionalString("SNS_EXTRA_CERT_URL_PREFIX"),
    retention: loadGatewayRetentionSettings(env),
  });
}

/** GATEWAY_PROCESSES, checked against what the runtime can do. */
function readProcessCount(read: ReturnType<typeof envReader>): number {
  const count = read.integer("GATEWAY_PROCESSES", canRunWorkerProcesses ? availableParallelism() : 1, 1, 64);
  if (count > 1 && !canRunWorkerProcesses) {
    throw new ConfigError("GATEWAY_PROCESSES", `Deno runs the gateway as one process (its node:cluster is a stub), got ${count}: run more gateway instances instead`);
  }
  return count;
}

/** The service definition the host starts. */
export function gatewayService(settings: GatewaySettings): ServiceDefinition {
  return {
    name: "webhook-gateway",
    port: settings.port,
    build: async ({ nats, mongo, log, metrics }) => {
      const workspaces = new WorkspaceRepository(mongo.db);
      const healthRepository = new HealthRepository(mongo.db);
      const audits = new AuditRepository(mongo.db);
      await workspaces.ensureIndexes();
      await audits.ensureIndexes();
      const imported = await audits.importLegacy();
      if (imported > 0) log.info("moved secret audit entries to gateway_audit", { count: imported });
      const recorder = new HealthRecorder(healthRepository, log);
      recorder.start(settings.healthFlushMs);
      const retention = startGatewayRetention(settings.retention ?? loadGatewayRetentionSettings({}), { db: mongo.db, health: healthRepository, audits, log, metrics });

      // Gap detection: the sends delivery status records, against the webhooks accepted since.
      const silences = new SilenceRepository(mongo.db);
      const lastAcceptedAt = async (workspaceId: string) => {
        const stored = (await healthRepository.read(workspaceId, [])).lastAcceptedAt;
        const pending = recorder.unflushed(workspaceId, []).lastAcceptedAt;
        return stored && pending ? (stored > pending ? stored : pending) : (stored ?? pending);
      };
      const silentWorkspaces = metrics.gauge(
        "ngsreach_webhook_silent_workspaces",
        "Workspaces with sends recorded and no verified webhook for RECONCILE_SILENCE_MINUTES, at the last silence check.",
        [],
        undefined,
        "max", // every worker process checks the same silences
      );

      const mailgunTokens = new MailgunTokenRepository(mongo.db);
      await mailgunTokens.ensureIndexes();
      const adapters = providerAdapters({ mailgunTokens, snsExtraCertUrlPrefix: settings.snsExtraCertUrlPrefix });
      const pruneTimer = setInterval(() => {
        mailgunTokens.prune().catch((error: unknown) => log.warn("could not remove expired Mailgun tokens; the next run retries", { error }));
      }, 10 * 60_000);
      pruneTimer.unref();

      const known = new KnownWorkspaces(500_000);
      const skippedLookups = metrics.counter(
        "ngsreach_webhook_unknown_lookups_skipped_total",
        "Webhooks for a workspace id not known to exist answered 404 without a database read (over 20 such reads a second).",
      );
      const secrets = new SecretCache({
        load: (workspaceId) => workspaces.find(workspaceId),
        open: (workspaceId, sealed) => openSecret(settings.secretKeys, workspaceId, sealed),
        parse: (provider, text) => adapters[provider].parseCredential(text),
        ttlMs: settings.secretCacheMs,
        missTtlMs: settings.unknownWorkspaceCacheMs,
        maxEntries: 100_000,
        known,
        // Ids nobody configured (a misconfigured sender, a deleted workspace) are rare; a flood of made-up ones is not.
        unknownReadsPerSecond: 20,
        onLookupSkipped: () => skippedLookups.inc(),
      });
      // In the background: until it is done, every lookup reads the database, as it did before the list existed.
      // Listed again every 10 minutes, so a workspace whose creation announcement this instance missed (core
      // NATS: it was disconnected at the moment) is not bounded like a made-up id for longer than that.
      const listKnown = async () => {
        for await (const workspaceId of workspaces.ids()) known.add(workspaceId);
        known.markListed();
      };
      const listing = () =>
        listKnown().catch((error: unknown) => log.warn("could not list the known workspaces; every unknown id is read from the database", { error }));
      void listing();
      const relistTimer = setInterval(() => void listing(), 10 * 60_000);
      relistTimer.unref();
      const stopListening = listenForSecretChanges(nats.nc, (workspaceId) => secrets.invalidate(workspaceId));

      const requests = metrics.counter("ngsreach_webhook_requests_total", "Webhook requests by provider, HTTP status and outcome.", ["provider", "status", "outcome"]);
      const verifySeconds = metrics.histogram("ngsreach_webhook_verify_duration_seconds", "Signature verification time, by provider.", ["provider"]);
      const publishSeconds = metrics.histogram("ngsreach_webhook_publish_duration_seconds", "JetStream publish-to-ack time (retries of one publish included).");
      const publishFailures = metrics.counter("ngsreach_webhook_publish_failures_total", "Publishes not acknowledged.");
      const publisher = startJetStreamPublisher(nats.nc, settings.publishTimeoutMs);
      const publish = envelopePublisher(publisher, settings.publishRetryMs);
      // Drains one failure a second: a source that stopped failing is served 401s again within a burst's worth of seconds.
      const limiter =
        settings.sourceFailureBurst > 0 ? new SourceLimiter({ burst: settings.sourceFailureBurst, leakPerSecond: 1, maxEntries: 50_000 }) : undefined;
      if (limiter) {
        metrics.gauge("ngsreach_webhook_failing_sources", "(workspace, source address) pairs with recent failed verifications.", [], (gauge) => gauge.set(limiter.size));
      }
      const undecryptable = metrics.counter(
        "ngsreach_webhook_secret_undecryptable_total",
        "Webhooks answered 503 because a secret cannot be decrypted with SECRETS_KEY, by the key id that sealed it.",
        ["key_id"],
      );

      const handleWebhook = webhookHttpHandler({
        secrets,
        limiter,
        maxBodyBytes: settings.maxBodyBytes,
        health: recorder,
        requests,
        log,
        reportUndecryptable: undecryptableReporter(log, undecryptable),
        adapters,
        confirmSubscription: snsSubscriptionConfirmer(),
        // The topic names the AWS account's topic, not a person; the URL (a subscribe token) is never logged.
        onUnsubscribed: (workspaceId, topicArn) => log.warn("SNS subscription to this endpoint was deleted; SES events stop until it is subscribed again", { workspaceId, topicArn }),
        verifySeconds,
        publish: async (event) => {
          const started = performance.now();
          try {
            return await publish(event);
          } catch (error) {
            publishFailures.inc();
            throw error;
          } finally {
            publishSeconds.observe((performance.now() - started) / 1000);
          }
        },
      });

      const now = () => new Date();
      const outbox: SecretOutboxDeps = {
        repository: workspaces,
        audits,
        announce: async (workspaceId) => {
          secrets.invalidate(workspaceId);
          await announceSecretChange(nats.nc, workspaceId);
        },
        log,
      };
      let sweeping = Promise.resolve();
      const sweep = () => {
        sweeping = sweeping
          .then(() => sweepSecretOutbox(outbox))
          .then(
            (handled) => {
              if (handled > 0) log.info("finished secret changes left in the outbox", { count: handled });
            },
            (error: unknown) => log.warn("secret outbox sweep failed; the next one retries", { error }),
          );
      };
      sweep();
      const sweepTimer = setInterval(sweep, settings.outboxSweepMs);
      const silenceMonitor = startSilenceMonitor(
        { silences, lastAcceptedAt, publish: jetStreamSilencePublisher(nats.js), silenceMs: settings.silenceMs, now: () => new Date(), log },
        silenceCheckIntervalMs(settings.silenceMs),
        (check) => silentWorkspaces.set(check.silent),
      );
      return {
        rpcServiceNames: [WorkspaceSettingsService.typeName],
        routes: (router) =>
          workspaceSettingsRoutes(router, {
            ...outbox,
            workspaces,
            health: healthRepository,
            recorder,
            silences,
            silenceMs: settings.silenceMs,
            audits,
            seal: (workspaceId, secret) => sealSecret(settings.secretKeys, workspaceId, secret),
            inspect: (workspaceId, sealed) => ({ keyId: sealedKeyId(sealed), decryptable: canOpen(settings.secretKeys, workspaceId, sealed) }),
            sealApiKey: (workspaceId, apiKey) => sealSecret(settings.secretKeys, workspaceId, apiKey, "provider-api-key"),
            inspectApiKey: (workspaceId, sealed) => ({
              keyId: sealedKeyId(sealed),
              decryptable: canOpen(settings.secretKeys, workspaceId, sealed, "provider-api-key"),
            }),
            activeKeyId: settings.secretKeys.activeId,
            reseal: (workspaceId, sealed) => resealSecret(settings.secretKeys, workspaceId, sealed),
            resealApiKey: (workspaceId, sealed) => resealSecret(settings.secretKeys, workspaceId, sealed, "provider-api-key"),
            now,
          }),
        consumers: [
          auditEntriesConsumer(audits),
          sendsRecordedConsumer({ silences, lastAcceptedAt, lock: new KeyedLock() }),
          erasureRequestConsumer("webhook-gateway", nats.js, (request) =>
            eraseAuditTargets({ audits, auditsStoredThroughRequest: (workspaceId) => auditEntriesStoredThroughErasure(nats.jsm, workspaceId) }, request),
          ),
        ],
        http: handleWebhook,
        stop: async () => {
          clearInterval(sweepTimer);
          clearInterval(relistTimer);
          clearInterval(pruneTimer);
          await silenceMonitor.stop();
          await retention.stop();
          await sweeping;
          stopListening();
          publisher.close();
          await recorder.stop();
        },
      };
    },
  };
}

function canOpen(keys: SecretKeys, workspaceId: string, sealed: string, purpose?: SecretPurpose): boolean {
  try {
    openSecret(keys, workspaceId, sealed, purpose);
    return true;
  } catch {
    return false;
  }
}
