/**
 * Campaign statistics' lifetime (issue 17): the per-send state (`stats_sends`, and what a send moved to
 * `stats_applied`) lives SENDS_RETENTION_DAYS (default 400) after its last write, like delivery status's
 * sends; campaign, hour and link documents hold sums and stay, so statistics are as exact after the sends
 * under them expired as before. Swept on every database: a send goes with its moved causes, and only
 * once nothing waits on it (see referencedSends); a round mark once no send lists it.
 */
import type { Db } from "mongodb";
import type { Env } from "../shared/config.ts";
import type { Logger } from "../shared/log.ts";
import type { MetricsRegistry } from "../shared/metrics.ts";
import { lifetimeFromEnv, loadRetentionSweepSettings, startRetentionSweeper, type RetentionRule, type RetentionSweeper, type RetentionSweepSettings } from "../shared/retention.ts";
import type { StatsRepository } from "./stats-repository.ts";
import { splitDeltaRef } from "./use-cases/ingest.ts";

export interface StatsRetentionSettings {
  readonly sendsMs: number;
  readonly sweep: RetentionSweepSettings;
}

/** Reads the variables; errors name them. */
export function loadStatsRetentionSettings(env: Env = process.env): StatsRetentionSettings {
  return Object.freeze({ sendsMs: lifetimeFromEnv(env, "SENDS_RETENTION_DAYS", 400), sweep: loadRetentionSweepSettings(env) });
}

/**
 * The sends (`ws:emailId`) whose delta refs a campaign, hour, link or workspace-day document still lists in `recent`.
 * They stay for now: a later send of the same email id would number its deltas from 1 again, and a ref
 * left behind would pass one of them off as applied. The refs go once their delta is done (the stats
 * sweep prunes them within its interval), and the send with them at a later run.
 */
async function referencedSends(repo: StatsRepository): Promise<Set<string>> {
  const referenced = new Set<string>();
  for (const doc of await repo.documentsWithRecent()) {
    for (const ref of doc.recent) referenced.add(`${doc.workspaceId}:${splitDeltaRef(ref)[0]}`);
  }
  return referenced;
}

/** How long a round mark stays at least: room for instances' clocks disagreeing (see sweepRoundMarks). */
export const roundMarkMarginMs = 3_600_000;

/** Campaign statistics' rules. */
export function statsRetentionRules(settings: StatsRetentionSettings, repo: StatsRepository): RetentionRule[] {
  // The marks' sweep reads every send listing a delta: once per margin is often enough for marks an hour old.
  let nextRoundSweepMs = 0;
  return [
    {
      name: "campaign-stats:sends",
      lifetimeMs: settings.sendsMs,
      sweep: async (cutoffMs, limits, nowMs) => {
        const referenced = await referencedSends(repo);
        return await repo.sweepExpiredSends(cutoffMs, limits, nowMs, (workspaceId, emailId) => referenced.has(`${workspaceId}:${emailId}`));
      },
    },
    {
      // Round marks (use-cases/ingest.ts) no send lists any more, an hour after they were made.
      name: "campaign-stats:rounds",
      lifetimeMs: roundMarkMarginMs,
      sweep: async (cutoffMs, limits, nowMs) => {
        if (nowMs < nextRoundSweepMs) return { deleted: 0, more: false };
        const result = await repo.sweepRoundMarks(cutoffMs, limits);
        if (!result.more) nextRoundSweepMs = nowMs + roundMarkMarginMs;
        return result;
      },
    },
  ];
}

/** Starts campaign statistics' sweeper. */
export function startStatsRetention(settings: StatsRetentionSettings, deps: { db: Db; repo: StatsRepository; log: Logger; metrics?: MetricsRegistry }): RetentionSweeper {
  return startRetentionSweeper({ db: deps.db, rules: statsRetentionRules(settings, deps.repo), settings: settings.sweep, log: deps.log, metrics: deps.metrics });
}
