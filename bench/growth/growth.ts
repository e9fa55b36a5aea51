/**
 * Benchmark: flat as it grows (the performance issue's target 5). The same
 * figures with BENCH_GROWTH_SMALL and then BENCH_GROWTH_LARGE documents
 * already stored in each service's main collections, in one run on one stack
 * (delivery-status, campaign-stats, suppression on a private nats-server and
 * FerretDB/SQLite): each figure at the large size beside the same figure at
 * the small one, the ratio and a verdict (within 1.25×).
 *
 *   node bench/growth/growth.ts            (or `npm run bench -- growth`)
 *
 * Figures: CheckSuppressions of 1,000 addresses (500 stored, the same ones at
 * both sizes; 500 never stored); GetCampaignStats of a campaign of
 * BENCH_GROWTH_CAMPAIGN_SENDS sends; ListSends of that campaign, its first
 * page and its 100th (100 sends a page); and end to end, BENCH_GROWTH_EVENTS
 * events published to JetStream for new sends until GetCampaignStats counts
 * them all (applied events/s). What grows between the two: suppressions,
 * delivery-status sends of another campaign, campaign-stats sends of other
 * workspaces (bulk-loaded through the repositories' own writes).
 *
 * Variables: BENCH_GROWTH_SMALL (10000), BENCH_GROWTH_LARGE (100000; the
 * issue's 1,000,000 is ~10 GB of SQLite and did not finish loading within 21
 * minutes here), BENCH_GROWTH_CAMPAIGN_SENDS
 * (20000, at least 10000 for the 100th page), BENCH_GROWTH_EVENTS (300),
 * BENCH_GROWTH_SECONDS (4: time per figure, at least BENCH_GROWTH_MIN_CALLS
 * calls, default 5, at most 60 s).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { MongoClient } from "mongodb";
import { CampaignStatsService } from "../../gen/ngsreach/stats/v1/campaign_stats_pb.ts";
import { DeliveryStatusService } from "../../gen/ngsreach/delivery/v1/delivery_status_pb.ts";
import { SuppressionService } from "../../gen/ngsreach/suppression/v1/suppression_pb.ts";
import { loadBaseConfig } from "../../services/shared/config.ts";
import { encodePageToken } from "../../services/shared/paging.ts";
import { sendsPageScope } from "../../services/delivery-status/use-cases/queries.ts";
import { eventBody, eventsReflected } from "../e2e/events.ts";
import { machine, table, verdictTable, writeResult, type Verdict } from "../lib/report.ts";
import { startBenchStack } from "../lib/stack.ts";
import { checkIndexLoaded } from "../lib/check-index.ts";
import { envelope, publishEnvelope } from "../rpc/ingest.ts";
import { loadCampaign, loadSuppressions, suppressedAddress } from "../rpc/load-data.ts";
import { timeWindow, type WindowBounds } from "../rpc/measure.ts";
import { growthEmailId, loadDeliverySends } from "./load-sends.ts";

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const sizes = [env("BENCH_GROWTH_SMALL", 10_000), env("BENCH_GROWTH_LARGE", 100_000)] as const;
const campaignSends = Math.max(10_000, env("BENCH_GROWTH_CAMPAIGN_SENDS", 20_000));
const e2eEvents = env("BENCH_GROWTH_EVENTS", 300);
const bounds: WindowBounds = { seconds: env("BENCH_GROWTH_SECONDS", 4), minCalls: env("BENCH_GROWTH_MIN_CALLS", 5), maxSeconds: 60, maxCalls: 10_000, warmupCalls: 1 };
const workspaceId = "growth";
const bigCampaign = "growth-big";
const pageSize = 100;
/** Within this factor of the small store's figure: the issue's "flat". */
const flatWithin = 1.25;

const log = (line: string) => console.log(`[growth bench] ${line}`);

interface Figure {
  what: string;
  /** p50 / p99 in ms for a latency, events/s for the end-to-end row. */
  p50: number;
  p99: number;
  unit: "ms" | "events/s";
}

export async function runGrowthBenchmark() {
  const dir = mkdtempSync(join(tmpdir(), "ngsreach-bench-growth-"));
  const cleanups: (() => unknown)[] = [() => rmSync(dir, { recursive: true, force: true })];
  const loadAtStart = loadavg();
  try {
    const stack = await startBenchStack(dir, ["delivery-status", "campaign-stats", "suppression"], cleanups);
    const { nats, ferret, procs, pids } = stack;
    const transport = (port: number) => createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` });
    let suppression = createClient(SuppressionService, transport(procs.suppression!.port));
    const stats = createClient(CampaignStatsService, transport(procs["campaign-stats"]!.port));
    const delivery = createClient(DeliveryStatusService, transport(procs["delivery-status"]!.port));
    const mongo = new MongoClient(ferret.url, { directConnection: true, retryWrites: false });
    await mongo.connect();
    cleanups.unshift(() => mongo.close());
    const nc = await connect({ servers: nats.url, name: "growth-bench" });
    cleanups.unshift(() => nc.close());
    const js = jetstream(nc);
    const db = mongo.db(loadBaseConfig({}).mongoDatabase);
    const load = { db, batch: 2000, inFlight: 3, deadline: Number.POSITIVE_INFINITY };

    const campaignLoad = await loadDeliverySends({ ...load, workspaceId, campaignId: bigCampaign, count: campaignSends });
    await loadCampaign({ ...load, workspaceId, campaignId: bigCampaign, count: campaignSends });
    log(`campaign ${bigCampaign}: ${campaignSends} sends in delivery-status and campaign-stats (${campaignLoad.seconds.toFixed(1)} s for the first)`);

    // Half of the checked addresses stored (spread over the small store), half never.
    const addresses = [...Array.from({ length: 500 }, (_, k) => suppressedAddress(Math.floor((k * sizes[0]) / 500))), ...Array.from({ length: 500 }, (_, k) => `never.${k}@growth.example.org`)];
    // A token made here as the service makes them (the same development key, PAGE_TOKEN_KEY unset in both), so the
    // 100th page is read without reading the 99 before it.
    const pageToken = (afterIndex: number) => encodePageToken(sendsPageScope({ workspaceId, campaignId: bigCampaign }), growthEmailId(bigCampaign, afterIndex));

    const levels: { stored: number; loadSeconds: number; figures: Figure[] }[] = [];
    let stored = 0;
    for (const size of sizes) {
      const started = performance.now();
      await loadSuppressions({ ...load, workspaceId, start: stored, count: size });
      await loadDeliverySends({ ...load, workspaceId, campaignId: "growth-filler", start: stored, count: size });
      // Other workspaces' campaign sends (the loader's ids are per workspace): one workspace per top-up.
      await loadCampaign({ ...load, workspaceId: `growth-filler-${size}`, campaignId: "filler", count: size - stored });
      const loadSeconds = (performance.now() - started) / 1000;
      stored = size;
      // The suppressions went straight into the database: a new instance's check index loads them at start.
      const restarted = await stack.restart("suppression");
      const indexSeconds = await checkIndexLoaded(restarted.port, size, 600_000);
      log(`suppression check index loaded ${size} in ${indexSeconds.toFixed(1)} s`);
      suppression = createClient(SuppressionService, transport(restarted.port));
      log(`${size} of each stored (loaded in ${loadSeconds.toFixed(1)} s), measuring`);

      const window = async (what: string, call: () => Promise<unknown>): Promise<Figure> => {
        const result = await timeWindow(call, bounds, pids);
        log(`  ${what}: ${result.calls} calls, p50 ${result.p50Ms.toFixed(1)} ms, p99 ${result.p99Ms.toFixed(1)} ms${result.errors ? `, ${result.errors} errors (${result.firstError})` : ""}`);
        return { what, p50: result.p50Ms, p99: result.p99Ms, unit: "ms" };
      };
      const figures = [
        await window("CheckSuppressions, 1,000 addresses", async () => {
          const answer = await suppression.checkSuppressions({ workspaceId, emails: addresses });
          const suppressed = answer.results.filter((result) => result.suppressed).length;
          if (suppressed !== 500) throw new Error(`${suppressed} suppressed, not 500`);
        }),
        await window(`GetCampaignStats, ${campaignSends.toLocaleString("en-US")}-send campaign`, async () => {
          const answer = await stats.getCampaignStats({ workspaceId, campaignId: bigCampaign });
          if (Number(answer.stats?.sent) !== campaignSends) throw new Error(`sent ${answer.stats?.sent}, not ${campaignSends}`);
        }),
        await window("ListSends, first page (100)", async () => {
          const page = await delivery.listSends({ workspaceId, campaignId: bigCampaign, pageSize });
          if (page.sends[0]?.emailId !== growthEmailId(bigCampaign, 0) || page.sends.length !== pageSize) throw new Error("wrong first page");
        }),
        await window("ListSends, 100th page", async () => {
          const page = await delivery.listSends({ workspaceId, campaignId: bigCampaign, pageSize, pageToken: pageToken(99 * pageSize - 1) });
          if (page.sends[0]?.emailId !== growthEmailId(bigCampaign, 99 * pageSize)) throw new Error(`wrong 100th page: ${page.sends[0]?.emailId}`);
        }),
        await endToEnd(js, stats, `growth-e2e-${size}`),
      ];
      levels.push({ stored: size, loadSeconds, figures });
    }
    return report(levels, loadAtStart);
  } finally {
    for (const cleanup of cleanups) await Promise.resolve(cleanup()).catch(() => undefined);
  }
}

/** Publishes `e2eEvents` events of new sends of `campaignId` (32 in flight) and times them until GetCampaignStats counts them all. */
async function endToEnd(js: ReturnType<typeof jetstream>, stats: ReturnType<typeof createClient<typeof CampaignStatsService>>, campaignId: string): Promise<Figure> {
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < e2eEvents) {
        const n = next++;
        await publishEnvelope(js, envelope(workspaceId, `msg_${campaignId}_${n}`, eventBody(n, campaignId)));
      }
    }),
  );
  const deadline = performance.now() + 120_000;
  let reflected = 0;
  while (performance.now() < deadline) {
    reflected = eventsReflected((await stats.getCampaignStats({ workspaceId, campaignId })).stats!);
    if (reflected >= e2eEvents) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const seconds = (performance.now() - started) / 1000;
  if (reflected !== e2eEvents) log(`  WARNING: end to end counted ${reflected} of ${e2eEvents} events`);
  const perSecond = reflected / seconds;
  log(`  end to end: ${reflected} events applied until queryable in ${seconds.toFixed(1)} s (${perSecond.toFixed(0)} events/s)`);
  return { what: `end to end, ${e2eEvents} events (applied events/s)`, p50: perSecond, p99: perSecond, unit: "events/s" };
}

function report(levels: { stored: number; loadSeconds: number; figures: Figure[] }[], loadAtStart: number[]) {
  const [small, large] = levels as [(typeof levels)[0], (typeof levels)[0]];
  const rows = small.figures.map((figure, i) => {
    const grown = large.figures[i]!;
    // A latency may grow 1.25×; a rate may shrink to 1/1.25.
    const ratio = figure.unit === "ms" ? grown.p99 / figure.p99 : figure.p50 / grown.p50;
    return {
      figure: figure.what,
      [`at ${small.stored.toLocaleString("en-US")}`]: figure.unit === "ms" ? `${figure.p50.toFixed(1)} / ${figure.p99.toFixed(1)} ms` : `${figure.p50.toFixed(0)}/s`,
      [`at ${large.stored.toLocaleString("en-US")}`]: grown.unit === "ms" ? `${grown.p50.toFixed(1)} / ${grown.p99.toFixed(1)} ms` : `${grown.p50.toFixed(0)}/s`,
      "growth (p99, or rate)": ratio,
      [`flat (<= ${flatWithin}x)`]: ratio <= flatWithin ? "met" : "NOT MET",
    };
  });
  console.log(`\nFlat as it grows: each figure with ${small.stored.toLocaleString("en-US")} and ${large.stored.toLocaleString("en-US")} documents stored in each main collection (p50 / p99)`);
  console.log(table(rows));
  console.log(`load average at start ${loadAtStart.map((v) => v.toFixed(2)).join(" ")}, at end ${loadavg().map((v) => v.toFixed(2)).join(" ")}`);
  const verdicts: Verdict[] = small.figures.map((figure, i) => {
    const grown = large.figures[i]!;
    const ratio = Number(rows[i]!["growth (p99, or rate)"]);
    const shown = (f: Figure) => (f.unit === "ms" ? `p99 ${f.p99.toFixed(1)} ms` : `${f.p50.toFixed(0)}/s`);
    return { target: `5. flat: ${figure.what}`, figure: `${shown(grown)} at ${large.stored.toLocaleString("en-US")} (${ratio.toFixed(2)}×)`, baseline: `${shown(figure)} at ${small.stored.toLocaleString("en-US")}`, met: ratio <= flatWithin };
  });
  const result = { benchmark: "growth", at: new Date().toISOString(), machine: machine(), loadAverageAtStart: loadAtStart, settings: { sizes, campaignSends, e2eEvents, bounds }, levels, rows, verdicts };
  writeResult("growth", result);
  return result;
}

if (import.meta.main) {
  await runGrowthBenchmark();
  process.exit(0);
}
