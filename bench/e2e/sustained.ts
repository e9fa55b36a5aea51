/**
 * Phase 1 of the e2e benchmark (sustained): N events sent as fast as the
 * gateway takes them (bounded concurrency), then GetCampaignStats polled until
 * the counts hold every event → ingest events/s (gateway) and applied events/s
 * (first send → stats caught up; also the 10 %→90 % slope, which leaves out
 * start-up). Then, once every consumer acknowledged everything, the final
 * counts: equal to what was sent, or the run says it was not exact (counts
 * short or doubled — two instances on a database without atomic updates).
 * Bounded: sending by 30 s, the drain by BENCH_E2E_DRAIN_SECONDS, and a drain
 * stops early once the consumers are idle but the counts stay short (nothing
 * more will arrive).
 */
import type { Client } from "@connectrpc/connect";
import type { CampaignStatsService } from "../../gen/ngsreach/stats/v1/campaign_stats_pb.ts";
import { machineBusySeconds } from "../lib/proc.ts";
import { eventBody, eventsReflected } from "./events.ts";
import { settings } from "./settings.ts";

export type Post = (body: string) => Promise<void>;
export type StatsClient = Client<typeof CampaignStatsService>;
/** CPU seconds so far, by process name. */
export type Meters = Record<string, () => number>;

export interface SustainedDeps {
  post: Post;
  statsClient: StatsClient;
  /** Prefix of this run's campaign ids (a fresh database each cell, but the names say which run they are). */
  run: string;
  meters: Meters;
  /** True when every durable consumer of the events stream has acknowledged everything. */
  consumersIdle: () => Promise<boolean>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const sample = (meters: Meters) => Object.fromEntries(Object.entries(meters).map(([name, read]) => [name, read()]));

export async function sustained({ post, statsClient, run, meters, consumersIdle }: SustainedDeps) {
  const { eventCount, concurrency, drainSeconds, lifecycle, campaigns, workspaceId } = settings;
  const campaignIds = Array.from({ length: campaigns }, (_, i) => `cmp_${run}_${i}`);
  const perSend = lifecycle.length;
  const bodies = Array.from({ length: eventCount }, (_, n) => {
    const sendIndex = Math.floor(n / perSend);
    const send = perSend > 1 ? { emailId: `${run}-${sendIndex}`, type: lifecycle[n % perSend]! } : undefined;
    return eventBody(n, campaignIds[sendIndex % campaigns]!, send);
  });
  const applied = async () => (await statsClient.batchGetCampaignStats({ workspaceId, campaignIds })).stats.reduce((sum, s) => sum + eventsReflected(s), 0);
  const cpuBefore = sample(meters);
  const busyBefore = machineBusySeconds();
  const started = performance.now();
  const sendDeadline = started + 30_000;
  let next = 0, failed = 0;
  const samples: { atMs: number; applied: number }[] = [];
  let polling = true;
  const poller = (async () => {
    while (polling && performance.now() - started < (drainSeconds + 30) * 1000) {
      samples.push({ atMs: performance.now() - started, applied: await applied() });
      if (samples.at(-1)!.applied >= eventCount) break;
      await sleep(200);
    }
  })();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < bodies.length && performance.now() < sendDeadline) {
        const body = bodies[next++]!;
        await post(body).catch(() => void failed++);
      }
    }),
  );
  const sent = next - failed;
  const ingestMs = performance.now() - started;
  const deadline = started + drainSeconds * 1000;
  let idleChecks = 0, lastIdleCheck = 0;
  while (performance.now() < deadline && (samples.at(-1)?.applied ?? 0) < sent) {
    await sleep(100);
    if (performance.now() - lastIdleCheck < 1000) continue;
    lastIdleCheck = performance.now();
    // Idle twice a second apart (a nak'd message waits out its delay before it counts as pending again).
    idleChecks = (await consumersIdle().catch(() => false)) ? idleChecks + 1 : 0;
    if (idleChecks >= 2) break;
  }
  polling = false;
  await poller;
  // When the counts got where they ended: a short run's idle checks after that are not applying time.
  const final = samples.at(-1)?.applied ?? 0;
  const last = samples.find((s) => s.applied >= final) ?? { atMs: performance.now() - started, applied: 0 };
  const cpuAfter = sample(meters);
  const busySeconds = machineBusySeconds() - busyBefore;
  // The CPU window runs to this sample, a little past the last count read.
  const cpuWindowSeconds = (performance.now() - started) / 1000;
  const windowSeconds = last.atMs / 1000;
  const at = (fraction: number) => samples.find((s) => s.applied >= fraction * sent);
  const p10 = at(0.1), p90 = at(0.9);
  const caughtUp = last.applied >= sent;
  // What the counts settle at once nothing is left to deliver (bounded: 30 s).
  const settleDeadline = performance.now() + 30_000;
  let settled = false;
  while (!settled && performance.now() < settleDeadline) {
    settled = await consumersIdle().catch(() => false);
    if (!settled) await sleep(250);
  }
  const finalApplied = await applied();
  const used = (name: string) => cpuAfter[name]! - cpuBefore[name]!;
  return {
    sent,
    failed,
    ingestSeconds: ingestMs / 1000,
    ingestPerSecond: sent / (ingestMs / 1000),
    applied: last.applied,
    caughtUp,
    appliedSeconds: windowSeconds,
    appliedPerSecond: last.applied / windowSeconds,
    slopePerSecond: p10 && p90 && p90.atMs > p10.atMs ? ((p90.applied - p10.applied) * 1000) / (p90.atMs - p10.atMs) : Number.NaN,
    /** Counts once every consumer acknowledged everything (or 30 s passed: consumersSettled false). */
    finalApplied,
    consumersSettled: settled,
    exact: settled && finalApplied === sent,
    /** exact; short or doubled (final counts wrong once nothing was left to deliver); unfinished (deadline). */
    verdict: !settled ? "unfinished" : finalApplied === sent ? "exact" : finalApplied < sent ? "short" : "doubled",
    cpuMsPerEvent: Object.fromEntries(Object.keys(meters).map((name) => [name, (used(name) * 1000) / Math.max(1, last.applied)])),
    cpuCores: Object.fromEntries(Object.keys(meters).map((name) => [name, used(name) / cpuWindowSeconds])),
    /** Busy cores of the whole machine in the window, whoever used them. */
    machineBusyCores: busySeconds / cpuWindowSeconds,
    campaignIds,
  };
}
