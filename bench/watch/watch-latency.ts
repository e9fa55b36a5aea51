/**
 * Watch latency benchmark (issues #4 and #5: "the watch stream delivers a
 * change within a second", "the watch pushes within a second"): how long from
 * publishing a Resend event to JetStream until the server-streaming watch
 * shows it, for delivery-status WatchSends and campaign-stats
 * WatchCampaignStats — beside, in the same run, a core NATS publish ->
 * subscription round trip on the same nats-server (what the live fan-out's
 * transport alone costs).
 *
 *   node bench/watch/watch-latency.ts
 *
 * A private nats-server and FerretDB (free ports, temp dirs) and the two
 * services as their own Node processes, as the e2e benchmark starts them. The
 * sends are registered up front with RecordSend (not timed) and campaign-stats
 * has their attribution before anything is measured. Then N `email.delivered`
 * events, one per send, are published at a fixed pace as the gateway publishes
 * them (typed envelope, `Nats-Msg-Id`), each moving its send from sent to
 * delivered and adding one to its campaign's `delivered`:
 * - WatchSends (whole workspace, over gRPC h2c): the change carrying the
 *   event's svix id; split into publish -> applied (the change's
 *   change_time, server clock on this machine) and applied -> received.
 * - WatchCampaignStats (every campaign, one stream): the first push whose
 *   `delivered` includes the event. Most events go to "cold" campaigns that
 *   change less often than the coalescing interval (so the interval adds no
 *   wait); every BENCH_WATCH_HOT_EVERY-th goes to one "hot" campaign that
 *   changes faster than it, where pushes are coalesced by design.
 * Where the message carries a server timestamp of the change (WatchSends
 * change_time; a stats push's updated_time when the event is the latest it
 * reflects), the latency is split into "applied" (publish -> the consumer's
 * write: JetStream delivery, any backlog, the database) and "then watch"
 * (the live fan-out, and for stats the coalescing wait and the stats read).
 * Events not seen within the drain deadline count as not within 1 s.
 *
 * Variables: BENCH_WATCH_EVENTS (200), BENCH_WATCH_RATE (5 events/s: under
 * what the consumers apply on a loaded 2-core machine, so the figure is the watch path, not a backlog),
 * BENCH_WATCH_INTERVAL_MS (min_interval_ms asked for; 0 = the server default,
 * 500), BENCH_WATCH_CAMPAIGNS (30 cold campaigns), BENCH_WATCH_HOT_EVERY (4),
 * BENCH_WATCH_DRAIN_SECONDS (20), BENCH_WATCH_RTT_BYTES (512: baseline payload).
 */
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { DeliveryStatusService } from "../../gen/ngsreach/delivery/v1/delivery_status_pb.ts";
import { CampaignStatsService } from "../../gen/ngsreach/stats/v1/campaign_stats_pb.ts";
import { sampleEmailEvent } from "../../cli/resend-samples.ts";
import { watchInterval } from "../../services/campaign-stats/watch.ts";
import { createLogger } from "../../services/shared/log.ts";
import { connectNats, type NatsHandles } from "../../services/shared/nats.ts";
import { publishResendEvent } from "../../test/publish-events.ts";
import { percentile } from "../e2e/e2e.ts";
import { sampleCpu } from "../lib/proc.ts";
import { startBenchStack } from "../lib/stack.ts";
import { machine, table, writeResult } from "../lib/report.ts";

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const eventCount = env("BENCH_WATCH_EVENTS", 200);
const rate = env("BENCH_WATCH_RATE", 5);
const requestedIntervalMs = env("BENCH_WATCH_INTERVAL_MS", 0);
const coldCampaigns = Math.min(97, Math.max(1, env("BENCH_WATCH_CAMPAIGNS", 30)));
const hotEvery = Math.max(2, env("BENCH_WATCH_HOT_EVERY", 4));
const drainSeconds = env("BENCH_WATCH_DRAIN_SECONDS", 20);
const rttBytes = Math.max(4, env("BENCH_WATCH_RTT_BYTES", 512));
const warmUpEvents = 5;
const intervalMs = watchInterval(requestedIntervalMs);
const workspaceId = "bench_watch";

const log = (line: string) => console.log(`[watch bench] ${line}`);
const quietLog = createLogger({ component: "bench-watch" }, "warn");

/** One measured event: which send, which campaign, and when it was published. */
interface Planned {
  emailId: string;
  campaignId: string;
  svixId: string;
  /** The campaign's `delivered` once this event is applied. */
  expectedDelivered: number;
  hot: boolean;
  publishedAt?: number; // performance.now()
  publishedWallMs?: number; // Date.now(), to compare with server timestamps
}

interface Seen {
  latencyMs: number;
  /** publish -> the server's own timestamp of the change (same machine clock). */
  appliedMs?: number;
}

/** Runs the benchmark and returns its result object (also written to bench-results/). */
export async function runWatchLatencyBenchmark() {
  const started = performance.now();
  const dir = mkdtempSync(join(tmpdir(), "ngsreach-bench-watch-"));
  const cleanups: (() => Promise<unknown> | unknown)[] = [() => rmSync(dir, { recursive: true, force: true })];
  const loadAtStart = loadavg();
  const abort = new AbortController();
  try {
    const { nats, procs, pids } = await startBenchStack(dir, ["delivery-status", "campaign-stats"], cleanups);
    const [delivery, stats] = [procs["delivery-status"]!, procs["campaign-stats"]!];

    const publisher = await connectNats(nats.url, "bench-watch-publisher", quietLog);
    cleanups.unshift(() => publisher.nc.close());
    const deliveryClient = createClient(DeliveryStatusService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${delivery.port}` }));
    const statsClient = createClient(CampaignStatsService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${stats.port}` }));
    cleanups.unshift(() => abort.abort());

    const run = randomBytes(3).toString("hex");
    const cold = Array.from({ length: coldCampaigns }, (_, i) => `cold_${run}_${i}`);
    const hot = `hot_${run}`;
    const warm = `warm_${run}`;
    const plan = planEvents(cold, hot);
    const warmPlan = Array.from({ length: warmUpEvents }, (_, i) => planned(warm, i + 1, false));
    const watchers = openWatches(deliveryClient, statsClient, [...cold, hot, warm], [...plan, ...warmPlan], abort.signal);

    // Sends registered before anything is timed; campaign-stats must hold their attribution first.
    const setupStarted = performance.now();
    await recordSends(deliveryClient, [...warmPlan, ...plan]);
    await waitUntil(async () => {
      const { stats: all } = await statsClient.batchGetCampaignStats({ workspaceId, campaignIds: [...cold, hot, warm] });
      return all.reduce((sum, s) => sum + Number(s.sent), 0) >= plan.length + warmPlan.length && watchers.deliveryMessages() > 0;
    }, 60_000, "campaign-stats attributing the recorded sends (and the WatchSends stream live)");
    const setupSeconds = (performance.now() - setupStarted) / 1000;
    log(`${plan.length + warmPlan.length} sends recorded and attributed in ${setupSeconds.toFixed(1)} s`);

    // Warm-up through the whole path (JIT, connections, consumers), not counted.
    for (const event of warmPlan) await publish(publisher, event);
    await waitUntil(async () => warmPlan.every((e) => watchers.delivery.has(e.svixId) && watchers.stats.has(e.svixId)), 30_000, "the warm-up events on both watches");

    const cpuBefore = sampleCpu(pids);
    const measureStarted = performance.now();
    const inFlight = new Set<Promise<unknown>>();
    let publishFailed = 0;
    await paced(plan.length, rate, (n) => {
      if (inFlight.size >= 64) return; // bounded: a stalled NATS drops pacing, not memory
      const sent = publish(publisher, plan[n]!).catch(() => void publishFailed++);
      inFlight.add(sent);
      void sent.finally(() => inFlight.delete(sent));
    });
    await Promise.all(inFlight);
    const publishSeconds = (performance.now() - measureStarted) / 1000;
    const drainDeadline = performance.now() + drainSeconds * 1000;
    while (performance.now() < drainDeadline && !plan.every((e) => watchers.delivery.has(e.svixId) && watchers.stats.has(e.svixId))) await sleep(50);
    const measuredSeconds = (performance.now() - measureStarted) / 1000;
    const cpuAfter = sampleCpu(pids);
    const cores = Object.fromEntries(Object.keys(pids).map((name) => [name, (cpuAfter[name]! - cpuBefore[name]!) / measuredSeconds]));
    abort.abort();
    await watchers.done;

    const baseline = await coreRoundTrip(nats.url, run);
    const result = report({ plan, watchers, baseline, cores, setupSeconds, publishSeconds, publishFailed, loadAtStart, started });
    return result;
  } finally {
    for (const cleanup of cleanups) await Promise.resolve().then(cleanup).catch(() => undefined);
  }
}

/** Event n goes to the hot campaign every `hotEvery`-th time, otherwise round-robin over the cold ones. */
function planEvents(cold: string[], hot: string): Planned[] {
  const delivered = new Map<string, number>();
  let next = 0;
  return Array.from({ length: eventCount }, (_, n) => {
    const isHot = n % hotEvery === 0;
    const campaignId = isHot ? hot : cold[next++ % cold.length]!;
    const count = (delivered.get(campaignId) ?? 0) + 1;
    delivered.set(campaignId, count);
    return planned(campaignId, count, isHot);
  });
}

function planned(campaignId: string, expectedDelivered: number, hot: boolean): Planned {
  return { emailId: randomUUID(), campaignId, svixId: `msg_${randomBytes(12).toString("hex")}`, expectedDelivered, hot };
}

type DeliveryClient = Client<typeof DeliveryStatusService>;
type StatsClient = Client<typeof CampaignStatsService>;

/**
 * Reads both watch streams until `signal` aborts, timestamping each message as
 * it arrives and matching it to the events it reflects.
 */
function openWatches(deliveryClient: DeliveryClient, statsClient: StatsClient, campaignIds: string[], events: Planned[], signal: AbortSignal) {
  const bySvixId = new Map(events.map((e) => [e.svixId, e]));
  const byCampaign = new Map<string, Planned[]>();
  for (const e of events) byCampaign.set(e.campaignId, [...(byCampaign.get(e.campaignId) ?? []), e]);
  const delivery = new Map<string, Seen>();
  const stats = new Map<string, Seen>();
  let deliveryMessages = 0, statsMessages = 0, watchErrors = 0;
  const ended = () => void (signal.aborted || watchErrors++);

  const deliveryLoop = (async () => {
    for await (const change of deliveryClient.watchSends({ workspaceId }, { signal })) {
      const at = performance.now();
      deliveryMessages++;
      const event = bySvixId.get(change.event?.svixId ?? "");
      if (!event || event.publishedAt === undefined || delivery.has(event.svixId)) continue;
      const changeMs = change.changeTime ? timestampMs(change.changeTime) : undefined;
      delivery.set(event.svixId, { latencyMs: at - event.publishedAt, appliedMs: changeMs === undefined ? undefined : changeMs - event.publishedWallMs! });
    }
  })().catch(ended);

  const statsLoop = (async () => {
    for await (const push of statsClient.watchCampaignStats({ workspaceId, campaignIds, minIntervalMs: requestedIntervalMs }, { signal })) {
      const at = performance.now();
      statsMessages++;
      const s = push.stats;
      if (!s) continue;
      const delivered = Number(s.delivered);
      const updatedMs = s.updatedTime ? timestampMs(s.updatedTime) : undefined;
      for (const event of byCampaign.get(s.campaignId) ?? []) {
        if (event.publishedAt === undefined || stats.has(event.svixId) || event.expectedDelivered > delivered) continue;
        // The push's updated_time is this event's apply time only when it is the latest change reflected.
        const appliedMs = updatedMs !== undefined && event.expectedDelivered === delivered ? updatedMs - event.publishedWallMs! : undefined;
        stats.set(event.svixId, { latencyMs: at - event.publishedAt, appliedMs });
      }
    }
  })().catch(ended);

  return {
    delivery,
    stats,
    deliveryMessages: () => deliveryMessages,
    statsMessages: () => statsMessages,
    watchErrors: () => watchErrors,
    done: Promise.all([deliveryLoop, statsLoop]),
  };
}

/** RecordSend for every planned send, a few in flight. */
async function recordSends(client: DeliveryClient, events: Planned[]): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < events.length) {
        const e = events[next++]!;
        await client.recordSend({ workspaceId, emailId: e.emailId, campaignId: e.campaignId, subscriberId: `sub_${e.emailId.slice(0, 8)}`, recipient: `${e.emailId.slice(0, 8)}@customer.example.com` });
      }
    }),
  );
}

/** Publishes the send's `email.delivered` as the gateway does (typed envelope, message id from the svix id). */
async function publish(nats: NatsHandles, event: Planned): Promise<void> {
  const body = sampleEmailEvent("email.delivered", {
    emailId: event.emailId,
    createdAt: new Date(),
    to: [`${event.emailId.slice(0, 8)}@customer.example.com`],
    tags: { campaign_id: event.campaignId },
  });
  event.publishedWallMs = Date.now();
  event.publishedAt = performance.now();
  await publishResendEvent(nats.js, workspaceId, body, { svixId: event.svixId, receivedAtMs: event.publishedWallMs });
}

/** Calls `fn(n)` for n < count at `perSecond`, on schedule (a late call does not push the later ones back). */
async function paced(count: number, perSecond: number, fn: (n: number) => void): Promise<void> {
  const start = performance.now();
  for (let n = 0; n < count; n++) {
    const wait = start + (n * 1000) / perSecond - performance.now();
    if (wait > 0) await sleep(wait);
    fn(n);
  }
}

/**
 * Baseline: the live fan-out's transport alone — a core NATS publish from one
 * connection to a subscription on another, same nats-server, same count and
 * pace, payload about the size of a WatchSends change.
 */
async function coreRoundTrip(url: string, run: string) {
  const pub = await connectNats(url, "bench-watch-rtt-pub", quietLog);
  const sub = await connectNats(url, "bench-watch-rtt-sub", quietLog);
  try {
    const subject = `live.bench.${run}`;
    const sentAt = new Float64Array(eventCount).fill(Number.NaN);
    const latencies: number[] = [];
    const subscription = sub.nc.subscribe(subject);
    const receiving = (async () => {
      for await (const message of subscription) {
        const n = new DataView(message.data.buffer, message.data.byteOffset, message.data.byteLength).getUint32(0);
        latencies.push(performance.now() - sentAt[n]!);
        if (latencies.length === eventCount) break;
      }
    })();
    await sub.nc.flush();
    await paced(eventCount, rate, (n) => {
      const payload = new Uint8Array(rttBytes);
      new DataView(payload.buffer).setUint32(0, n);
      sentAt[n] = performance.now();
      pub.nc.publish(subject, payload);
    });
    await Promise.race([receiving, sleep(5000)]);
    subscription.unsubscribe();
    return { sent: eventCount, received: latencies.length, payloadBytes: rttBytes, ...summary(latencies.map((latencyMs) => ({ latencyMs })), eventCount) };
  } finally {
    await pub.nc.close();
    await sub.nc.close();
  }
}

/** Percentiles over what was seen; `withinOneSecond` over everything sent (unseen counts as late). */
function summary(seen: Seen[], sent: number) {
  const sorted = seen.map((s) => s.latencyMs).sort((a, b) => a - b);
  const applied = seen.flatMap((s) => (s.appliedMs === undefined ? [] : [s.appliedMs])).sort((a, b) => a - b);
  const afterApply = seen.flatMap((s) => (s.appliedMs === undefined ? [] : [s.latencyMs - s.appliedMs])).sort((a, b) => a - b);
  return {
    seen: seen.length,
    missing: sent - seen.length,
    p50Ms: percentile(sorted, 50),
    p90Ms: percentile(sorted, 90),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.at(-1) ?? Number.NaN,
    withinOneSecond: sorted.filter((ms) => ms <= 1000).length / Math.max(1, sent),
    appliedP50Ms: percentile(applied, 50),
    appliedP99Ms: percentile(applied, 99),
    /** applied -> watch message received: the live fan-out (and, for stats, coalescing and the stats read). */
    afterApplyP50Ms: percentile(afterApply, 50),
    afterApplyP99Ms: percentile(afterApply, 99),
    splitOf: afterApply.length,
  };
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
}

function report(input: {
  plan: Planned[];
  watchers: ReturnType<typeof openWatches>;
  baseline: Awaited<ReturnType<typeof coreRoundTrip>>;
  cores: Record<string, number>;
  setupSeconds: number;
  publishSeconds: number;
  publishFailed: number;
  loadAtStart: number[];
  started: number;
}) {
  const { plan, watchers, baseline } = input;
  const seenIn = (map: Map<string, Seen>, events: Planned[]) => events.flatMap((e) => map.get(e.svixId) ?? []);
  const coldEvents = plan.filter((e) => !e.hot), hotEvents = plan.filter((e) => e.hot);
  const deliveryStatus = summary(seenIn(watchers.delivery, plan), plan.length);
  const statsCold = summary(seenIn(watchers.stats, coldEvents), coldEvents.length);
  const statsHot = summary(seenIn(watchers.stats, hotEvents), hotEvents.length);
  const statsAll = summary(seenIn(watchers.stats, plan), plan.length);
  const coldEverySeconds = (coldCampaigns * hotEvery) / ((hotEvery - 1) * rate);
  const hotEveryMs = (hotEvery * 1000) / rate;
  const ratio = (s: ReturnType<typeof summary>) => ({ p50: s.p50Ms / baseline.p50Ms, p99: s.p99Ms / baseline.p99Ms });
  const split = (s: ReturnType<typeof summary>) =>
    s.splitOf === 0 ? "" : `; applied p50 ${s.appliedP50Ms.toFixed(0)}/p99 ${s.appliedP99Ms.toFixed(0)} ms, then watch p50 ${s.afterApplyP50Ms.toFixed(0)}/p99 ${s.afterApplyP99Ms.toFixed(0)} ms (n=${s.splitOf})`;
  const row = (what: string, s: ReturnType<typeof summary>, events: number, note: string) => ({
    what,
    events: `${s.seen}/${events}`,
    "p50 ms": s.p50Ms,
    "p99 ms": s.p99Ms,
    "max ms": s.maxMs,
    "≤ 1 s": `${(s.withinOneSecond * 100).toFixed(1)} %`,
    "p50 ×base": s.p50Ms / baseline.p50Ms,
    "p99 ×base": s.p99Ms / baseline.p99Ms,
    note: note + split(s),
  });
  console.log(`\nWatch latency: publish to JetStream (typed envelope) → watch message over gRPC h2c, ${plan.length} email.delivered events at ${rate}/s`);
  console.log(table([
    row("delivery-status WatchSends", deliveryStatus, plan.length, "whole workspace"),
    row("campaign-stats Watch, cold campaigns", statsCold, coldEvents.length, `min_interval ${intervalMs} ms; each campaign changes every ${coldEverySeconds.toFixed(1)} s`),
    row("campaign-stats Watch, hot campaign", statsHot, hotEvents.length, `min_interval ${intervalMs} ms; changes every ${hotEveryMs.toFixed(0)} ms (coalesced)`),
    row("campaign-stats Watch, all", statsAll, plan.length, `min_interval ${intervalMs} ms${requestedIntervalMs === 0 ? " (server default)" : ""}`),
    row("baseline: core NATS pub → sub", baseline, baseline.sent, `same nats-server, 2 connections, ${baseline.payloadBytes} B`),
  ]));
  const totalSeconds = (performance.now() - input.started) / 1000;
  console.log(
    `\ncores used while measured: ${Object.entries(input.cores).map(([name, c]) => `${name} ${c.toFixed(2)}`).join(", ")}` +
      `\nsetup (RecordSend + attribution) ${input.setupSeconds.toFixed(1)} s; ${plan.length} published in ${input.publishSeconds.toFixed(1)} s, ${input.publishFailed} failed; watch messages: WatchSends ${watchers.deliveryMessages()}, WatchCampaignStats ${watchers.statsMessages()}, stream errors ${watchers.watchErrors()}` +
      `\nload average at start ${input.loadAtStart.map((v) => v.toFixed(2)).join(" ")}, at end ${loadavg().map((v) => v.toFixed(2)).join(" ")}; total ${totalSeconds.toFixed(0)} s`,
  );
  const result = {
    benchmark: "watch-latency",
    at: new Date().toISOString(),
    machine: machine(),
    loadAverageAtStart: input.loadAtStart,
    settings: { eventCount, rate, requestedIntervalMs, effectiveIntervalMs: intervalMs, coldCampaigns, hotEvery, drainSeconds, rttBytes, warmUpEvents, database: "FerretDB v1 / SQLite" },
    deliveryStatus,
    campaignStats: { cold: statsCold, hot: statsHot, all: statsAll, coldCampaignChangeEverySeconds: coldEverySeconds, hotCampaignChangeEveryMs: hotEveryMs },
    baseline,
    ratios: { deliveryStatus: ratio(deliveryStatus), campaignStatsCold: ratio(statsCold), campaignStatsHot: ratio(statsHot), campaignStatsAll: ratio(statsAll) },
    targets: { deliveryStatusWithinOneSecond: deliveryStatus.withinOneSecond, campaignStatsWithinOneSecond: statsAll.withinOneSecond },
    cores: input.cores,
    setupSeconds: input.setupSeconds,
    publishSeconds: input.publishSeconds,
    publishFailed: input.publishFailed,
    watchMessages: { watchSends: watchers.deliveryMessages(), watchCampaignStats: watchers.statsMessages(), streamErrors: watchers.watchErrors() },
    totalSeconds,
  };
  writeResult("watch-latency", result);
  return result;
}

if (import.meta.main) {
  await runWatchLatencyBenchmark();
  process.exit(0);
}
