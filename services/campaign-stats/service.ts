/**
 * The campaign-stats service: wires the repository, the ingest use cases,
 * the two consumers, the RPC routes and the background sweeper.
 */
import { ProviderOverrides } from "./deliverability/provider-overrides.ts";
import { defaultMachineOpenWindowMs } from "./machine-opens.ts";
import { defaultBulkSenderLimits, type BulkSenderLimits } from "./deliverability/bulk-sender-limits.ts";
import { publishLimitAlert } from "./deliverability/limit-alert-event.ts";
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { CampaignAlertKind, CampaignAlertSchema } from "../../gen/ngsreach/events/v1/domain_events_pb.ts";
import { CampaignStatsService } from "../../gen/ngsreach/stats/v1/campaign_stats_pb.ts";
import { ConfigError, defaultPorts, envReader, type Env } from "../shared/config.ts";
import type { ServiceDefinition } from "../shared/service-host.ts";
import { defaultAlertSettings, type AlertSettings, type PendingAlert } from "./alerts.ts";
import { resendEventsConsumer, sendRecordedConsumer } from "./consumer.ts";
import { KeyedLock } from "../shared/keyed-lock.ts";
import { registerCampaignStatsRoutes } from "./rpc.ts";
import { defaultScannerWindowMs } from "./scanner.ts";
import { StatsRepository } from "./stats-repository.ts";
import { loadStatsRetentionSettings, startStatsRetention, type StatsRetentionSettings } from "./stats-retention.ts";
import { DoneRefs, type IngestDeps } from "./use-cases/ingest.ts";
import { defaultPruneRule, sweep } from "./use-cases/sweep.ts";
import { notifyCampaignChanged } from "./watch.ts";
import { publishTraced } from "../shared/tracing/nats-spans.ts";

/** Settings of this service beyond the shared ones. */
export interface CampaignStatsSettings {
  readonly port: number;
  readonly alerts: AlertSettings;
  /** Bulk-sender limits of a workspace's day at a mailbox provider (deliverability/bulk-sender-limits.ts). */
  readonly limits: BulkSenderLimits;
  /** Clicks earlier than this after delivery are scanner clicks (scanner.ts). */
  readonly scannerWindowMs: number;
  /** Opens earlier than this after delivery are machine opens (machine-opens.ts). */
  readonly machineOpenWindowMs: number;
  /** How often the sweeper republishes pending alerts and prunes refs. */
  readonly sweepIntervalMs: number;
  /** How long a document goes unwritten before the sweeper prunes its refs (use-cases/sweep.ts). */
  readonly pruneIdleMs: number;
  /** How long JetStream waits for an ack before redelivering (a crashed instance's buffered messages wait this long). */
  readonly consumerAckWaitMs: number;
  /** Test only: called between two writes; throwing simulates a crash there. */
  readonly crashPoint?: (label: string) => void | Promise<void>;
  /** Test only: false writes without the version guard (the fault suite's deliberately broken build). */
  readonly versionGuard?: boolean;
  /** Lifetime of per-send state; default: the variables' defaults. */
  readonly retention?: StatsRetentionSettings;
}

const defaults: Omit<CampaignStatsSettings, "port"> = {
  alerts: defaultAlertSettings,
  limits: defaultBulkSenderLimits,
  scannerWindowMs: defaultScannerWindowMs,
  machineOpenWindowMs: defaultMachineOpenWindowMs,
  sweepIntervalMs: 30_000,
  pruneIdleMs: defaultPruneRule.idleMs,
  consumerAckWaitMs: 30_000,
};

function fraction(env: Env, name: string, fallback: number): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0 || value > 1) {
    throw new ConfigError(name, `expected a fraction in (0, 1], e.g. 0.04 for 4 %, got "${raw}"`);
  }
  return value;
}

/** Reads this service's variables; errors name the variable. */
export function loadCampaignStatsSettings(env: Env = process.env): CampaignStatsSettings {
  const read = envReader(env);
  return Object.freeze({
    port: read.port("CAMPAIGN_STATS_PORT", defaultPorts.campaignStats),
    alerts: Object.freeze({
      hardBounceRate: fraction(env, "STATS_ALERT_BOUNCE_RATE", defaultAlertSettings.hardBounceRate),
      complaintRate: fraction(env, "STATS_ALERT_COMPLAINT_RATE", defaultAlertSettings.complaintRate),
      minDelivered: read.integer("STATS_ALERT_MIN_DELIVERED", defaultAlertSettings.minDelivered, 0),
    }),
    limits: Object.freeze({ ...defaultBulkSenderLimits, minDelivered: read.integer("DELIVERABILITY_MIN_DELIVERED", defaultBulkSenderLimits.minDelivered, 1) }),
    scannerWindowMs: read.integer("STATS_SCANNER_WINDOW_SECONDS", defaultScannerWindowMs / 1000, 0, 3600) * 1000,
    machineOpenWindowMs: read.integer("STATS_MACHINE_OPEN_WINDOW_SECONDS", defaultMachineOpenWindowMs / 1000, 0, 3600) * 1000,
    sweepIntervalMs: read.integer("STATS_SWEEP_INTERVAL_SECONDS", 30, 1, 86_400) * 1000,
    pruneIdleMs: read.integer("STATS_PRUNE_IDLE_SECONDS", defaultPruneRule.idleMs / 1000, 0, 86_400) * 1000,
    consumerAckWaitMs: read.integer("STATS_CONSUMER_ACK_WAIT_SECONDS", 30, 1, 3600) * 1000,
    retention: loadStatsRetentionSettings(env),
  });
}

const alertKindProto = {
  hardBounceRate: CampaignAlertKind.HARD_BOUNCE_RATE,
  complaintRate: CampaignAlertKind.COMPLAINT_RATE,
} as const;

/** JetStream message id of an alert: one per crossing. */
export const alertMessageId = (workspaceId: string, campaignId: string, alert: PendingAlert) =>
  `${workspaceId}:${campaignId}:${alert.kind}:${alert.crossing}`;

/** The service definition the host starts. */
export function campaignStatsService(partial: CampaignStatsSettings): ServiceDefinition {
  const settings: CampaignStatsSettings = { ...defaults, ...partial };
  return {
    name: "campaign-stats",
    port: settings.port,
    build: async ({ mongo, nats, log, metrics }) => {
      const repo = new StatsRepository(mongo.db);
      await repo.init({ versionGuard: settings.versionGuard });
      const overrides = new ProviderOverrides(mongo.db);
      const deps: IngestDeps = {
        repo,
        rules: { scannerWindowMs: settings.scannerWindowMs, machineOpenWindowMs: settings.machineOpenWindowMs },
        alerts: settings.alerts,
        publishAlert: async (workspaceId, campaignId, alert) => {
          const message = create(CampaignAlertSchema, {
            workspaceId,
            campaignId,
            kind: alertKindProto[alert.kind],
            rate: alert.rate,
            threshold: alert.threshold,
            delivered: BigInt(alert.delivered),
            count: BigInt(alert.count),
            sent: BigInt(alert.sent),
            alertTime: timestampFromMs(alert.at),
          });
          await publishTraced(nats.js, `campaign.${workspaceId}.alert`, toBinary(CampaignAlertSchema, message), {
            msgID: alertMessageId(workspaceId, campaignId, alert),
          });
          log.warn("campaign alert published", { workspaceId, campaignId, kind: alert.kind, rate: alert.rate, crossing: alert.crossing });
        },
        limits: settings.limits,
        overrides,
        publishLimitAlert: async (workspaceId, alert) => {
          await publishLimitAlert(nats.js, workspaceId, alert);
          log.warn("bulk-sender limit reached", { workspaceId, day: new Date(alert.day).toISOString().slice(0, 10), provider: alert.provider, level: alert.level, rate: alert.rate, crossing: alert.crossing });
        },
        notifyChanged: (workspaceId, campaignId) => notifyCampaignChanged(nats.nc, workspaceId, campaignId),
        crashPoint: settings.crashPoint ?? (() => {}),
        done: new DoneRefs(),
        flowLocks: new KeyedLock(),
        now: () => Date.now(),
      };

      let sweeping: Promise<unknown> = Promise.resolve();
      // Refs are pruned at start and then once per idle time: their scan reads every aggregate document.
      let prunedAt = -Infinity;
      const runSweep = () => {
        sweeping = sweeping
          .then(() => {
            const pruneRefs = Date.now() - prunedAt >= settings.pruneIdleMs;
            if (pruneRefs) prunedAt = Date.now();
            return sweep(deps, { ...defaultPruneRule, idleMs: settings.pruneIdleMs }, { pruneRefs });
          })
          .catch((error) => log.warn("sweep failed, will retry", { error }));
      };
      runSweep();
      const timer = setInterval(runSweep, settings.sweepIntervalMs);
      timer.unref?.();
      const retention = startStatsRetention(settings.retention ?? loadStatsRetentionSettings({}), { db: mongo.db, repo, log, metrics });

      return {
        rpcServiceNames: [CampaignStatsService.typeName],
        routes: (router) => registerCampaignStatsRoutes(router, repo, nats.nc, overrides),
        consumers: [resendEventsConsumer(deps), sendRecordedConsumer(deps)].map((spec) => ({
          ...spec,
          ackWaitMs: settings.consumerAckWaitMs,
        })),
        stop: async () => {
          clearInterval(timer);
          await retention.stop();
          await sweeping;
        },
      };
    },
  };
}
