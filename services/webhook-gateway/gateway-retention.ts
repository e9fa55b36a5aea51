/**
 * The gateway's lifetimes (issue 17): webhook health hours (WEBHOOK_HEALTH_RETENTION_DAYS, default 30, by
 * the hour they count; each workspace's `last` document stays) and audit entries (AUDIT_RETENTION_DAYS,
 * default 730, by when the change was made). Both by TTL index on MongoDB, swept on FerretDB v1.
 */
import type { Db } from "mongodb";
import type { Env } from "../shared/config.ts";
import type { Logger } from "../shared/log.ts";
import type { MetricsRegistry } from "../shared/metrics.ts";
import { lifetimeFromEnv, loadRetentionSweepSettings, startRetentionSweeper, type RetentionRule, type RetentionSweeper, type RetentionSweepSettings } from "../shared/retention.ts";
import type { HealthRepository } from "./health/health-repository.ts";
import type { AuditRepository } from "./workspace/audit-repository.ts";

export interface GatewayRetentionSettings {
  readonly healthHoursMs: number;
  readonly auditMs: number;
  readonly sweep: RetentionSweepSettings;
}

/** Reads the variables; errors name them. Health hours live at least 2 days: GetWebhookHealth reads the last 25 hours. */
export function loadGatewayRetentionSettings(env: Env = process.env): GatewayRetentionSettings {
  return Object.freeze({
    healthHoursMs: lifetimeFromEnv(env, "WEBHOOK_HEALTH_RETENTION_DAYS", 30, 2),
    auditMs: lifetimeFromEnv(env, "AUDIT_RETENTION_DAYS", 730),
    sweep: loadRetentionSweepSettings(env),
  });
}

/** The gateway's rules. */
export function gatewayRetentionRules(settings: GatewayRetentionSettings, { health, audits }: { health: HealthRepository; audits: AuditRepository }): RetentionRule[] {
  return [
    {
      name: "webhook-gateway:health-hours",
      lifetimeMs: settings.healthHoursMs,
      expireByDatabase: () => health.expireHoursByDatabase(settings.healthHoursMs),
      sweep: (cutoffMs, limits) => health.sweepHours(cutoffMs, limits),
    },
    {
      name: "webhook-gateway:audit",
      lifetimeMs: settings.auditMs,
      expireByDatabase: () => audits.expireByDatabase(settings.auditMs),
      sweep: (cutoffMs, limits) => audits.sweepExpired(cutoffMs, limits),
    },
  ];
}

/** Starts the gateway's sweeper. */
export function startGatewayRetention(
  settings: GatewayRetentionSettings,
  deps: { db: Db; health: HealthRepository; audits: AuditRepository; log: Logger; metrics?: MetricsRegistry },
): RetentionSweeper {
  return startRetentionSweeper({ db: deps.db, rules: gatewayRetentionRules(settings, deps), settings: settings.sweep, log: deps.log, metrics: deps.metrics });
}
