/**
 * Phase 2 of the e2e benchmark (latency): events paced at a given rate, each
 * with its own campaign id, so "this event is queryable" is exactly "its
 * campaign's counts are non-zero" → p50/p99 from the gateway's 200 to
 * visibility. A campaign is read (BatchGetCampaignStats) when campaign-stats
 * announces a change of it on its live subject (the watch stream's trigger),
 * and every pending campaign every BENCH_E2E_POLL_MS in case an announcement
 * is lost (resolution: one RPC). Polling every pending campaign every 20 ms
 * made the bench the database's largest load once latency rose: at 600 ms
 * latency and 75 events/s, 45 pending campaigns read 50 times a second, 2,250
 * reads/s against ~500 writes/s of ingest, which fed the latency it measured.
 */
import { connect } from "@nats-io/transport-node";
import { campaignOfLiveSubject, liveSubjectsOf } from "../../services/campaign-stats/watch.ts";
import { eventBody, eventsReflected, percentile } from "./events.ts";
import { settings } from "./settings.ts";
import type { Post, StatsClient } from "./sustained.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function latency(post: Post, statsClient: StatsClient, natsUrl: string, run: string, rate: number) {
  const { latencySeconds, pollMs, workspaceId } = settings;
  const count = Math.max(1, Math.floor(rate * latencySeconds));
  const pending = new Map<string, number>(); // campaign → time of the gateway's 200
  const announced = new Set<string>(); // campaigns campaign-stats said changed, not read since
  const latencies: number[] = [];
  let failed = 0, inFlight = 0, sending = true;
  const nc = await connect({ servers: natsUrl, name: "e2e-bench" });
  const changes = nc.subscribe(liveSubjectsOf(workspaceId));
  void (async () => {
    for await (const message of changes) announced.add(campaignOfLiveSubject(message.subject));
  })();
  const poller = (async () => {
    const stopAt = performance.now() + (latencySeconds + 30) * 1000;
    let lastFullPoll = performance.now();
    while ((sending || pending.size > 0) && performance.now() < stopAt) {
      const full = performance.now() - lastFullPoll >= pollMs;
      if (full) lastFullPoll = performance.now();
      const ids = (full ? [...pending.keys()] : [...announced].filter((campaign) => pending.has(campaign))).slice(0, 100);
      for (const id of ids) announced.delete(id);
      if (ids.length > 0) {
        const response = await statsClient.batchGetCampaignStats({ workspaceId, campaignIds: ids });
        const now = performance.now();
        response.stats.forEach((stats, i) => {
          if (eventsReflected(stats) > 0) {
            latencies.push(now - pending.get(ids[i]!)!);
            pending.delete(ids[i]!);
          }
        });
      } else await sleep(2);
    }
  })();
  const started = performance.now();
  const sends: Promise<void>[] = [];
  for (let n = 0; n < count; n++) {
    const due = started + (n * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    if (inFlight >= 64) continue; // bounded: a stalled gateway drops pacing, not memory
    const campaign = `lat_${run}_${n}`;
    const body = eventBody(n, campaign);
    inFlight++;
    sends.push(
      post(body).then(
        () => void pending.set(campaign, performance.now()),
        () => void failed++,
      ).finally(() => void inFlight--),
    );
  }
  await Promise.all(sends);
  sending = false;
  await poller;
  await nc.close();
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    rate,
    sent: count - failed,
    failed,
    visible: latencies.length,
    unresolved: pending.size,
    p50Ms: percentile(sorted, 50),
    p90Ms: percentile(sorted, 90),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.at(-1) ?? Number.NaN,
    pollMs,
  };
}
