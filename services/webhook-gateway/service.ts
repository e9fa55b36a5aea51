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
import { startJetStreamPublisher } from "./webhook/jetstream-publisher.ts";
import { envelopePublisher } from "./webhook/receive-webhook.ts";
import { announceSecretChange, listenForSecretChanges } from "./workspace/invalidation.ts";
import { openSecret, parseSecretKeys, sealSecret, type SecretKeys } from "./workspace/secret-box.ts";
import { SecretCache } from "./workspace/secret-cache.ts";
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
      await workspaces.ensureIndexes();
      const recorder = new HealthRecorder(healthRepository, log);
      recorder.start(settings.healthFlushMs);

      const secrets = new SecretCache({
        load: (workspaceId) => workspaces.find(workspaceId),
        open: (workspaceId, sealed) => openSecret(settings.secretKeys, workspaceId, sealed),
        ttlMs: settings.secretCacheMs,
        missTtlMs: settings.unknownWorkspaceCacheMs,
        maxEntries: 100_000,
      });
      const stopListening = listenForSecretChanges(nats.nc, (workspaceId) => secrets.invalidate(workspaceId));

      const requests = metrics.counter("ngsreach_webhook_requests_total", "Webhook requests by HTTP status and outcome.");
      const verifySeconds = metrics.histogram("ngsreach_webhook_verify_seconds", "Signature verification time.");
      const publishSeconds = metrics.histogram("ngsreach_webhook_publish_seconds", "JetStream publish-to-ack time.");
      const publishFailures = metrics.counter("ngsreach_webhook_publish_failures_total", "Publishes not acknowledged.");
      const publisher = startJetStreamPublisher(nats.nc, settings.publishTimeoutMs);
      const publish = envelopePublisher(publisher, settings.publishRetryMs);

      const handleWebhook = webhookHttpHandler({
        secrets,
        maxBodyBytes: settings.maxBodyBytes,
        health: recorder,
        requests,
        log,
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
      return {
        rpcServiceNames: [WorkspaceSettingsService.typeName],
        routes: (router) =>
          workspaceSettingsRoutes(router, {
            repository: workspaces,
            workspaces,
            health: healthRepository,
            recorder,
            seal: (workspaceId, secret) => sealSecret(settings.secretKeys, workspaceId, secret),
            announce: async (workspaceId) => {
              secrets.invalidate(workspaceId);
              await announceSecretChange(nats.nc, workspaceId);
            },
            now,
          }),
        http: handleWebhook,
        stop: async () => {
          stopListening();
          publisher.close();
          await recorder.stop();
        },
      };
    },
  };
}
