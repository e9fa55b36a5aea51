/**
 * The webhook gateway: verifies Resend webhooks and stores them in JetStream,
 * and hosts WorkspaceSettingsService (webhook secrets and webhook health).
 */
import { WorkspaceSettingsService } from "../../gen/ngsreach/workspace/v1/workspace_settings_pb.ts";
import { defaultPorts, envReader, type Env } from "../shared/config.ts";
import type { ServiceDefinition } from "../shared/service-host.ts";
import { HealthRecorder } from "./health/health-recorder.ts";
import { HealthRepository } from "./health/health-repository.ts";
import { workspaceSettingsRoutes } from "./rpc.ts";
import { webhookHttpHandler } from "./webhook/http-handler.ts";
import { SourceLimiter } from "./webhook/source-limiter.ts";
import { undecryptableReporter } from "./webhook/undecryptable-report.ts";
import { startJetStreamPublisher } from "./webhook/jetstream-publisher.ts";
import { envelopePublisher } from "./webhook/receive-webhook.ts";
import { AuditRepository } from "./workspace/audit-repository.ts";
import { auditEntriesConsumer } from "./workspace/audit-consumer.ts";
import { announceSecretChange, listenForSecretChanges } from "./workspace/invalidation.ts";
import { openSecret, parseSecretKeys, resealSecret, sealedKeyId, sealSecret, type SecretKeys } from "./workspace/secret-box.ts";
import { KnownWorkspaces } from "./workspace/known-workspaces.ts";
import { SecretCache } from "./workspace/secret-cache.ts";
import { sweepSecretOutbox, type SecretOutboxDeps } from "./workspace/secret-outbox.ts";
import { WorkspaceRepository } from "./workspace/workspace-repository.ts";

/** Settings of the gateway beyond the shared ones. */
export interface GatewaySettings {
  readonly port: number;
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
}

/** Reads the gateway's variables; errors name the variable. */
export function loadGatewaySettings(env: Env = process.env): GatewaySettings {
  const read = envReader(env);
  return Object.freeze({
    port: read.port("GATEWAY_PORT", defaultPorts.gateway),
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
  });
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

      const known = new KnownWorkspaces(500_000);
      const skippedLookups = metrics.counter(
        "ngsreach_webhook_unknown_lookups_skipped_total",
        "Webhooks for a workspace id not known to exist answered 404 without a database read (over 20 such reads a second).",
      );
      const secrets = new SecretCache({
        load: (workspaceId) => workspaces.find(workspaceId),
        open: (workspaceId, sealed) => openSecret(settings.secretKeys, workspaceId, sealed),
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

      const requests = metrics.counter("ngsreach_webhook_requests_total", "Webhook requests by HTTP status and outcome.");
      const verifySeconds = metrics.histogram("ngsreach_webhook_verify_seconds", "Signature verification time.");
      const publishSeconds = metrics.histogram("ngsreach_webhook_publish_seconds", "JetStream publish-to-ack time.");
      const publishFailures = metrics.counter("ngsreach_webhook_publish_failures_total", "Publishes not acknowledged.");
      const publisher = startJetStreamPublisher(nats.nc, settings.publishTimeoutMs);
      const publish = envelopePublisher(publisher, settings.publishRetryMs);
      // Drains one failure a second: a source that stopped failing is served 401s again within a burst's worth of seconds.
      const limiter =
        settings.sourceFailureBurst > 0 ? new SourceLimiter({ burst: settings.sourceFailureBurst, leakPerSecond: 1, maxEntries: 50_000 }) : undefined;
      if (limiter) metrics.gauge("ngsreach_webhook_failing_sources", "(workspace, source address) pairs with recent failed verifications.", () => limiter.size);
      const undecryptable = metrics.counter(
        "ngsreach_webhook_secret_undecryptable_total",
        "Webhooks answered 503 because a secret cannot be decrypted with SECRETS_KEY, by the key id that sealed it.",
      );

      const handleWebhook = webhookHttpHandler({
        secrets,
        limiter,
        maxBodyBytes: settings.maxBodyBytes,
        health: recorder,
        requests,
        log,
        reportUndecryptable: undecryptableReporter(log, undecryptable),
        timeVerify: (seconds) => verifySeconds.observe(seconds),
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
      return {
        rpcServiceNames: [WorkspaceSettingsService.typeName],
        routes: (router) =>
          workspaceSettingsRoutes(router, {
            ...outbox,
            workspaces,
            health: healthRepository,
            recorder,
            audits,
            seal: (workspaceId, secret) => sealSecret(settings.secretKeys, workspaceId, secret),
            inspect: (workspaceId, sealed) => ({ keyId: sealedKeyId(sealed), decryptable: canOpen(settings.secretKeys, workspaceId, sealed) }),
            activeKeyId: settings.secretKeys.activeId,
            reseal: (workspaceId, sealed) => resealSecret(settings.secretKeys, workspaceId, sealed),
            now,
          }),
        consumers: [auditEntriesConsumer(audits)],
        http: handleWebhook,
        stop: async () => {
          clearInterval(sweepTimer);
          clearInterval(relistTimer);
          await sweeping;
          stopListening();
          publisher.close();
          await recorder.stop();
        },
      };
    },
  };
}

function canOpen(keys: SecretKeys, workspaceId: string, sealed: string): boolean {
  try {
    openSecret(keys, workspaceId, sealed);
    return true;
  } catch {
    return false;
  }
}
