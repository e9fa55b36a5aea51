/**
 * The campaign-stats service: wires the repository, the ingest use cases,
 * the two consumers, the RPC routes and the background sweeper.
 */
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
import { DoneRefs, type IngestDeps } from "./use-cases/ingest.ts";
import { sweep } from "./use-cases/sweep.ts";
import { notifyCampaignChanged } from "./watch.ts";

/** Settings of this service beyond the shared ones. */
export interface CampaignStatsSettings {
  readonly port: number;
  readonly alerts: AlertSettings;
  /** Clicks earlier than this after delivery are scanner clicks (scanner.ts). */
  readonly scannerWindowMs: number;
  /** How often the sweeper republishes pending alerts and prunes refs. */
  readonly sweepIntervalMs: number;
  /** How long JetStream waits for an ack before redelivering (a crashed instance's buffered messages wait this long). */
  readonly consumerAckWaitMs: number;
  /** Test only: called between two writes; throwing simulates a crash there. */
  readonly crashPoint?: (label: string) => void | Promise<void>;
  /** Test only: false writes without the version guard (the fault suite's deliberately broken build). */
  readonly versionGuard?: boolean;
}

const defaults: Omit<CampaignStatsSettings, "port"> = {
  alerts: defaultAlertSettings,
  scannerWindowMs: defaultScannerWindowMs,
  sweepIntervalMs: 30_000,
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
    scannerWindowMs: read.integer("STATS_SCANNER_WINDOW_SECONDS", defaultScannerWindowMs / 1000, 0, 3600) * 1000,
    sweepIntervalMs: read.integer("STATS_SWEEP_INTERVAL_SECONDS", 30, 1, 86_400) * 1000,
    consumerAckWaitMs: read.integer("STATS_CONSUMER_ACK_WAIT_SECONDS", 30, 1, 3600) * 1000,
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
    build: async ({ mongo, nats, log }) => {
      const repo = new StatsRepository(mongo.db);
      await repo.init({ versionGuard: settings.versionGuard });
      const deps: IngestDeps = {
        repo,
        rules: { scannerWindowMs: settings.scannerWindowMs },
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
          await nats.js.publish(`campaign.${workspaceId}.alert`, toBinary(CampaignAlertSchema, message), {
            msgID: alertMessageId(workspaceId, campaignId, alert),
          });
          log.warn("campaign alert published", { workspaceId, campaignId, kind: alert.kind, rate: alert.rate, crossing: alert.crossing });
        },
        notifyChanged: (workspaceId, campaignId) => notifyCampaignChanged(nats.nc, workspaceId, campaignId),
        crashPoint: settings.crashPoint ?? (() => {}),
        done: new DoneRefs(),
        flowLocks: new KeyedLock(),
        now: () => Date.now(),
      };

      let sweeping: Promise<unknown> = Promise.resolve();
      const runSweep = () => {
        sweeping = sweeping
          .then(() => sweep(deps))
          .catch((error) => log.warn("sweep failed, will retry", { error }));
      };
      runSweep();
      const timer = setInterval(runSweep, settings.sweepIntervalMs);
      timer.unref?.();

      return {
        rpcServiceNames: [CampaignStatsService.typeName],
        routes: (router) => registerCampaignStatsRoutes(router, repo, nats.nc),
        consumers: [resendEventsConsumer(deps), sendRecordedConsumer(deps)].map((spec) => ({
          ...spec,
          ackWaitMs: settings.consumerAckWaitMs,
        })),
        stop: async () => {
          clearInterval(timer);
          await sweeping;
        },
      };
    },
  };
}
