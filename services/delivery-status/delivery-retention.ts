/**
 * Delivery status's lifetimes (issue 17): a send with its timeline entries and pages lives
 * SENDS_RETENTION_DAYS (default 400) after its last change — its registration or the last event that
 * changed it, so a send still receiving events stays whole — and a finished reconciliation run
 * RECONCILE_RUN_RETENTION_DAYS (default 90) after it finished. Both are swept on every database: a send
 * goes with its timeline, which no TTL index can do, and a run's finish time is not a Date.
 */
import type { Db } from "mongodb";
import type { Env } from "../shared/config.ts";
import type { Logger } from "../shared/log.ts";
import type { MetricsRegistry } from "../shared/metrics.ts";
import { lifetimeFromEnv, loadRetentionSweepSettings, startRetentionSweeper, type RetentionRule, type RetentionSweeper, type RetentionSweepSettings } from "../shared/retention.ts";
import type { RunRepository } from "./reconcile/run-repository.ts";
import type { SendsRepository } from "./sends-repository.ts";

export interface DeliveryRetentionSettings {
  readonly sendsMs: number;
  readonly finishedRunsMs: number;
  readonly sweep: RetentionSweepSettings;
}

/** Reads the variables; errors name them. */
export function loadDeliveryRetentionSettings(env: Env = process.env): DeliveryRetentionSettings {
  return Object.freeze({
    sendsMs: lifetimeFromEnv(env, "SENDS_RETENTION_DAYS", 400),
    finishedRunsMs: lifetimeFromEnv(env, "RECONCILE_RUN_RETENTION_DAYS", 90),
    sweep: loadRetentionSweepSettings(env),
  });
}

/** Delivery status's rules. */
export function deliveryRetentionRules(settings: DeliveryRetentionSettings, { sends, runs }: { sends: SendsRepository; runs: RunRepository }): RetentionRule[] {
  return [
    { name: "delivery-status:sends", lifetimeMs: settings.sendsMs, sweep: (cutoffMs, limits) => sends.sweepExpired(cutoffMs, limits) },
    { name: "delivery-status:reconciliations", lifetimeMs: settings.finishedRunsMs, sweep: (cutoffMs, limits) => runs.sweepFinished(cutoffMs, limits) },
  ];
}

/** Starts delivery status's sweeper. */
export function startDeliveryRetention(
  settings: DeliveryRetentionSettings,
  deps: { db: Db; sends: SendsRepository; runs: RunRepository; log: Logger; metrics?: MetricsRegistry },
): RetentionSweeper {
  return startRetentionSweeper({ db: deps.db, rules: deliveryRetentionRules(settings, deps), settings: settings.sweep, log: deps.log, metrics: deps.metrics });
}
