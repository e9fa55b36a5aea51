/**
 * RPC benchmark (issue #8, sub-benchmark 3): p50/p99 latency and requests/s
 * of three read RPCs over gRPC (h2c, @connectrpc/connect-node), idle and
 * while concurrent ingest runs, each beside a baseline measured in the same
 * run: a bare connect-node server answering a constant response of the same
 * RPC shape (the real answer, captured first), called by the same client the
 * same way.
 *
 *   node bench/rpc/rpc.ts            (or `npm run bench -- rpc`)
 *
 * - CheckSuppressions of 1,000 addresses (500 suppressed, spread over the
 *   loaded ones, 500 never stored) against BENCH_RPC_SUPPRESSIONS stored;
 * - GetCampaignStats of a campaign of BENCH_RPC_CAMPAIGN_SENDS sends;
 * - ListSendEvents: the timeline (8 events) of one of BENCH_RPC_TIMELINE_SENDS
 *   sends registered with RecordSend and fed through JetStream, in a
 *   delivery_timeline holding BENCH_RPC_TIMELINE_FILLER other entries.
 * The three services run as their own Node processes on private nats-server
 * and FerretDB (SQLite) instances (free ports, temp dirs); the data is bulk
 * loaded into their collections first (bounded by BENCH_RPC_LOAD_SECONDS;
 * the sizes reached are reported). Ingest: envelopes published straight to
 * JetStream at BENCH_RPC_INGEST_RATE/s (at most BENCH_RPC_INGEST_MAX_EVENTS),
 * half for the big campaign, consumed by all three services.
 * Each window is a closed loop, one call in flight (see measure.ts);
 * baseline and service windows alternate per RPC.
 *
 * The 1,000,000-row figures of issue #8 come from the standalone scripts
 * (bench/suppression/check.ts, bench/campaign-stats/stats-query.ts): loading
 * that much takes ~7–11 minutes here, beyond `npm run bench`'s budget.
 *
 * Variables (defaults): BENCH_RPC_SUPPRESSIONS (100000), BENCH_RPC_CAMPAIGN_SENDS
 * (100000), BENCH_RPC_TIMELINE_FILLER (20000), BENCH_RPC_TIMELINE_SENDS (10),
 * BENCH_RPC_LOAD_SECONDS (150), BENCH_RPC_BATCH (2000), BENCH_RPC_SECONDS (6),
 * BENCH_RPC_MIN_CALLS (20), BENCH_RPC_MAX_WINDOW_SECONDS (20),
 * BENCH_RPC_INGEST_RATE (50), BENCH_RPC_INGEST_MAX_EVENTS (6000).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { toBinary, type DescMessage, type DescMethodUnary, type MessageShape } from "@bufbuild/protobuf";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { MongoClient } from "mongodb";
import { CampaignStatsService } from "../../gen/ngsreach/stats/v1/campaign_stats_pb.ts";
import { DeliveryStatusService } from "../../gen/ngsreach/delivery/v1/delivery_status_pb.ts";
import { SuppressionService } from "../../gen/ngsreach/suppression/v1/suppression_pb.ts";
import { sampleEmailEvent, type EmailEventType } from "../../cli/resend-samples.ts";
import { loadBaseConfig } from "../../services/shared/config.ts";
import { peakRssMiB, sampleCpu, stopChild } from "../lib/proc.ts";
import { startBenchStack } from "../lib/stack.ts";
import { checkAnswers, checkIndexLoaded } from "../lib/check-index.ts";
import { machine, table, verdictTable, writeResult, type Verdict } from "../lib/report.ts";
import { startBaselineServer } from "./baseline-process.ts";
import { consumerProgress, envelope, publishEnvelope, startIngest, waitConsumersIdle, type IngestReport } from "./ingest.ts";
import { loadCampaign, loadSuppressions, loadTimelineFiller, suppressedAddress, type LoadProgress } from "./load-data.ts";
import { timeWindow, type WindowBounds, type WindowResult } from "./measure.ts";

/** A whole number ≥ 0 from the environment, or the default; anything else stops the run naming the variable. */
function knob(name: string, fallback: number): number {
  const raw = process.env[name]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name}: expected a number >= 0, got "${raw}"`);
  return value;
}

const settings = {
  suppressions: knob("BENCH_RPC_SUPPRESSIONS", 100_000),
  campaignSends: knob("BENCH_RPC_CAMPAIGN_SENDS", 100_000),
  timelineFiller: knob("BENCH_RPC_TIMELINE_FILLER", 20_000),
  timelineSends: Math.max(1, knob("BENCH_RPC_TIMELINE_SENDS", 10)),
  loadSeconds: knob("BENCH_RPC_LOAD_SECONDS", 150),
  batch: Math.max(1, knob("BENCH_RPC_BATCH", 2000)),
  ingestRate: Math.max(1, knob("BENCH_RPC_INGEST_RATE", 50)),
  ingestMaxEvents: knob("BENCH_RPC_INGEST_MAX_EVENTS", 6000),
};
const bounds: WindowBounds = {
  seconds: knob("BENCH_RPC_SECONDS", 6),
  minCalls: knob("BENCH_RPC_MIN_CALLS", 20),
  maxSeconds: knob("BENCH_RPC_MAX_WINDOW_SECONDS", 20),
  maxCalls: 50_000,
  warmupCalls: 3,
};
const workspaceId = "bench_rpc";
const bigCampaign = "big_campaign";
const timelineCampaign = "rpc_timeline";
/** One send's timeline, in event order. */
const timelineTypes: EmailEventType[] = ["email.sent", "email.delivery_delayed", "email.delivered", "email.opened", "email.clicked", "email.opened", "email.clicked", "email.opened"];
const callOptions = { timeoutMs: 30_000 };

const log = (line: string) => console.log(`[rpc bench] ${line}`);

interface Clients {
  suppression: Client<typeof SuppressionService>;
  stats: Client<typeof CampaignStatsService>;
  delivery: Client<typeof DeliveryStatusService>;
}

const clientsOf = (ports: { suppression: number; stats: number; delivery: number }): Clients => {
  const transport = (port: number) => createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` });
  return {
    suppression: createClient(SuppressionService, transport(ports.suppression)),
    stats: createClient(CampaignStatsService, transport(ports.stats)),
    delivery: createClient(DeliveryStatusService, transport(ports.delivery)),
  };
};

/** One benchmarked RPC: how to call it (the same way on service and baseline) and what a right answer is. */
interface RpcCase {
  name: string;
  what: string;
  method: DescMethodUnary;
  call(clients: Clients, i: number): Promise<MessageShape<DescMessage>>;
  /** Throws when the service's answer is wrong (not applied to the baseline's constant). */
  check(response: MessageShape<DescMessage>): void;
}

type Phase = "idle" | "ingest";
interface Row {
  rpc: string;
  server: "baseline" | "service";
  phase: Phase;
  window: WindowResult;
}

/** Runs the whole RPC benchmark and returns its result object (also written to bench-results/). */
export async function runRpcBenchmark() {
  const dir = mkdtempSync(join(tmpdir(), "ngsreach-bench-rpc-"));
  const cleanups: (() => Promise<unknown> | void)[] = [() => rmSync(dir, { recursive: true, force: true })];
  const loadAtStart = loadavg();
  try {
    const stack = await startBenchStack(dir, ["delivery-status", "campaign-stats", "suppression"], cleanups);
    const { nats, ferret, procs, pids } = stack;
    const [delivery, stats] = [procs["delivery-status"]!, procs["campaign-stats"]!];
    pids["bench (client)"] = process.pid;

    const mongo = new MongoClient(ferret.url, { directConnection: true, retryWrites: false });
    await mongo.connect();
    cleanups.unshift(() => mongo.close());
    const nc = await connect({ servers: nats.url, name: "rpc-bench" });
    cleanups.unshift(() => nc.close());
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const loaded = await loadData(mongo, loadBaseConfig({}).mongoDatabase);
    // The suppressions went straight into the database: a new instance's check index loads them at start.
    const suppression = await stack.restart("suppression");
    const indexLoadSeconds = await checkIndexLoaded(suppression.port, loaded.suppressions.loaded, 600_000);
    console.log(`[rpc bench] suppression check index loaded ${loaded.suppressions.loaded} in ${indexLoadSeconds.toFixed(1)} s`);
    const service = clientsOf({ suppression: suppression.port, stats: stats.port, delivery: delivery.port });
    const timelineEmailIds = await feedTimelines(service, js, jsm);

    const cases = rpcCases(loaded.suppressions.loaded, loaded.campaign.sent, timelineEmailIds);
    // The baseline answers what the service answered: capture one response per RPC.
    const responses: Record<string, string> = {};
    for (const rpc of cases) {
      const response = await rpc.call(service, 0);
      rpc.check(response);
      responses[`${rpc.method.parent.typeName}/${rpc.method.name}`] = Buffer.from(toBinary(rpc.method.output, response)).toString("base64");
    }
    const responsesFile = join(dir, "baseline-responses.json");
    writeFileSync(responsesFile, JSON.stringify(responses));
    const baselineServer = await startBaselineServer(responsesFile, join(dir, "baseline.log"));
    cleanups.unshift(() => stopChild(baselineServer.child));
    pids.baseline = baselineServer.pid;
    const baseline = clientsOf({ suppression: baselineServer.port, stats: baselineServer.port, delivery: baselineServer.port });

    const rows: Row[] = [];
    const measurePhase = async (phase: Phase) => {
      const cpuBefore = sampleCpu(pids);
      const started = performance.now();
      for (const rpc of cases) {
        for (const server of ["baseline", "service"] as const) {
          const clients = server === "baseline" ? baseline : service;
          const window = await timeWindow(async (i) => {
            const response = await rpc.call(clients, i);
            if (server === "service") rpc.check(response);
          }, bounds, pids);
          rows.push({ rpc: rpc.name, server, phase, window });
          log(`${phase} ${rpc.name} ${server}: ${window.calls} calls, ${window.rps.toFixed(1)}/s, p50 ${window.p50Ms.toFixed(2)} ms, p99 ${window.p99Ms.toFixed(2)} ms${window.errors ? `, ${window.errors} errors (${window.firstError})` : ""}`);
        }
      }
      const seconds = (performance.now() - started) / 1000;
      const cpuAfter = sampleCpu(pids);
      return { seconds, cores: Object.fromEntries(Object.keys(pids).map((name) => [name, (cpuAfter[name]! - cpuBefore[name]!) / seconds])) };
    };

    log("idle phase");
    const idle = await measurePhase("idle");

    log(`ingest phase: ${settings.ingestRate} events/s published to JetStream (at most ${settings.ingestMaxEvents})`);
    const progressBefore = await consumerProgress(jsm);
    const ingest = startIngest({
      js,
      workspaceId,
      rate: settings.ingestRate,
      maxEvents: settings.ingestMaxEvents,
      maxInFlight: 256,
      campaignOf: (n) => (n % 2 === 0 ? bigCampaign : `rpc_ingest_${n % 20}`),
    });
    let ingestReport: IngestReport;
    let underIngest: Awaited<ReturnType<typeof measurePhase>>;
    let applied: Record<string, { acked: number; perSecond: number; backlogAtEnd: number }>;
    try {
      await sleep(3000); // let the consumers get busy before the first window
      const phaseStart = performance.now();
      underIngest = await measurePhase("ingest");
      const progressAfter = await consumerProgress(jsm);
      const phaseSeconds = (performance.now() - phaseStart) / 1000;
      applied = Object.fromEntries(
        Object.entries(progressAfter).map(([name, after]) => {
          const acked = after.ackFloor - (progressBefore[name]?.ackFloor ?? 0);
          return [name, { acked, perSecond: acked / (phaseSeconds + 3), backlogAtEnd: after.pending + after.ackPending }];
        }),
      );
    } finally {
      ingestReport = await ingest.stop();
    }
    log(`ingest: published ${ingestReport.published} in ${ingestReport.seconds.toFixed(0)} s (${ingestReport.perSecond.toFixed(1)}/s), ${ingestReport.failed} failed, ${ingestReport.skippedInFlight} skipped`);
    if (ingestReport.ranOut) log(`WARNING: BENCH_RPC_INGEST_MAX_EVENTS (${settings.ingestMaxEvents}) ran out before the ingest phase ended: its last windows saw only the consumers' backlog`);
    const peaks = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, peakRssMiB(pid)]));
    const checkAnswersSeen = await checkAnswers(suppression.port);
    return report({ rows, loaded, idle, underIngest, ingest: ingestReport, applied, peaks, loadAtStart, timelineSends: timelineEmailIds.length, checkAnswers: checkAnswersSeen });
  } finally {
    for (const cleanup of cleanups) await Promise.resolve(cleanup()).catch(() => undefined);
  }
}

/** Bulk loads, all three at once against one deadline (FerretDB is the bottleneck either way). */
async function loadData(mongo: MongoClient, database: string) {
  const db = mongo.db(database);
  const deadline = performance.now() + settings.loadSeconds * 1000;
  const started = performance.now();
  const reporter = (what: string, step: number) => {
    let next = step;
    return (loaded: number) => {
      if (loaded < next) return;
      next += step;
      const s = (performance.now() - started) / 1000;
      log(`loaded ${loaded.toLocaleString("en-US")} ${what} in ${s.toFixed(0)} s (load average ${loadavg()[0]!.toFixed(1)})`);
    };
  };
  const common = { db, workspaceId, batch: settings.batch, inFlight: 2, deadline };
  log(`loading ${settings.suppressions.toLocaleString("en-US")} suppressions, a campaign of ${settings.campaignSends.toLocaleString("en-US")} sends and ${settings.timelineFiller.toLocaleString("en-US")} timeline entries (bound ${settings.loadSeconds} s)`);
  const [suppressions, campaign, timeline] = await Promise.all([
    loadSuppressions({ ...common, count: settings.suppressions, onProgress: reporter("suppressions", 25_000) }),
    loadCampaign({ ...common, count: settings.campaignSends, campaignId: bigCampaign, onProgress: reporter("campaign sends", 25_000) }),
    loadTimelineFiller({ ...common, count: settings.timelineFiller, inFlight: 1, onProgress: reporter("timeline entries", 10_000) }),
  ]);
  const seconds = (performance.now() - started) / 1000;
  for (const [what, progress] of Object.entries({ suppressions, campaign, timeline }) as [string, LoadProgress][]) {
    log(`${what}: ${progress.loaded.toLocaleString("en-US")}/${progress.requested.toLocaleString("en-US")} in ${progress.seconds.toFixed(0)} s (${Math.round(progress.perSecond)}/s)${progress.stoppedByTimeBound ? " — STOPPED BY TIME BOUND" : ""}`);
  }
  return { seconds, suppressions, campaign, timeline };
}

/** Registers the timeline sends with RecordSend and feeds their events through JetStream; waits until applied. */
async function feedTimelines(service: Clients, js: ReturnType<typeof jetstream>, jsm: JetStreamManager): Promise<string[]> {
  const run = Date.now().toString(36);
  const emailIds = Array.from({ length: settings.timelineSends }, (_, s) => `tl-${run}-${s}`);
  const base = Date.now() - 3_600_000;
  for (const [s, emailId] of emailIds.entries()) {
    const recipient = `reader.${s}@timeline.example.com`;
    await service.delivery.recordSend({ workspaceId, emailId, campaignId: timelineCampaign, subscriberId: `tl_sub_${s}`, recipient }, callOptions);
    for (const [j, type] of timelineTypes.entries()) {
      const body = JSON.stringify(
        sampleEmailEvent(type, {
          emailId,
          createdAt: new Date(base + s * 1000 + j * 60_000),
          to: [recipient],
          from: "Acme Product Team <newsletter@mail.acme-example.com>",
          subject: "Your November product update: faster dashboards, new integrations and a sneak peek at what's next",
          tags: { campaign_id: timelineCampaign, subscriber_id: `tl_sub_${s}` },
          click: type === "email.clicked" ? { link: `https://www.acme-example.com/blog/november-update?ref=${s}-${j}` } : undefined,
        }),
      );
      await publishEnvelope(js, envelope(workspaceId, `msg_tl_${run}_${s}_${j}`, body));
    }
  }
  const deadline = performance.now() + 120_000;
  for (const emailId of emailIds) {
    for (;;) {
      const events = await service.delivery.listSendEvents({ workspaceId, emailId }, callOptions).then((r) => r.events.length, () => 0);
      if (events >= timelineTypes.length) break;
      if (performance.now() > deadline) throw new Error(`timeline of ${emailId} has ${events}/${timelineTypes.length} events after 120 s`);
      await sleep(200);
    }
  }
  if (!(await waitConsumersIdle(jsm, 60_000))) log("WARNING: consumers still busy 60 s after the timeline events; the idle phase is not idle");
  log(`${emailIds.length} timelines of ${timelineTypes.length} events applied`);
  return emailIds;
}

function rpcCases(suppressions: number, campaignSent: number, timelineEmailIds: string[]): RpcCase[] {
  // Half of each request is stored (spread over the loaded range by a stride prime to it), half never stored.
  const checkRequest = (i: number) => ({
    workspaceId,
    emails: Array.from({ length: 1000 }, (_, k) =>
      k % 2 === 0 && suppressions > 0 ? suppressedAddress((i * 500 + k / 2) * 7919 % suppressions) : `nobody.${i}.${k}@absent.example.net`,
    ),
  });
  const expectedSuppressed = suppressions > 0 ? 500 : 0;
  return [
    {
      name: "CheckSuppressions",
      what: `1,000 addresses (${expectedSuppressed} suppressed) vs ${suppressions.toLocaleString("en-US")} stored`,
      method: SuppressionService.method.checkSuppressions,
      call: (clients, i) => clients.suppression.checkSuppressions(checkRequest(i), callOptions),
      check: (response) => {
        const results = (response as Awaited<ReturnType<Clients["suppression"]["checkSuppressions"]>>).results;
        const found = results.filter((r) => r.suppressed).length;
        if (results.length !== 1000 || found !== expectedSuppressed) throw new Error(`CheckSuppressions: ${results.length} results, ${found} suppressed (expected 1000, ${expectedSuppressed})`);
      },
    },
    {
      name: "GetCampaignStats",
      what: `campaign of ${campaignSent.toLocaleString("en-US")} sends`,
      method: CampaignStatsService.method.getCampaignStats,
      call: (clients) => clients.stats.getCampaignStats({ workspaceId, campaignId: bigCampaign }, callOptions),
      check: (response) => {
        const sent = Number((response as Awaited<ReturnType<Clients["stats"]["getCampaignStats"]>>).stats?.sent ?? 0);
        if (sent < campaignSent) throw new Error(`GetCampaignStats: sent ${sent}, loaded ${campaignSent}`);
      },
    },
    {
      name: "ListSendEvents",
      what: `timeline of ${timelineTypes.length} events (1 of ${timelineEmailIds.length} sends)`,
      method: DeliveryStatusService.method.listSendEvents,
      call: (clients, i) => clients.delivery.listSendEvents({ workspaceId, emailId: timelineEmailIds[i % timelineEmailIds.length]! }, callOptions),
      check: (response) => {
        const events = (response as Awaited<ReturnType<Clients["delivery"]["listSendEvents"]>>).events.length;
        if (events !== timelineTypes.length) throw new Error(`ListSendEvents: ${events} events, expected ${timelineTypes.length}`);
      },
    },
  ];
}

interface ReportInput {
  rows: Row[];
  loaded: Awaited<ReturnType<typeof loadData>>;
  idle: { seconds: number; cores: Record<string, number> };
  underIngest: { seconds: number; cores: Record<string, number> };
  ingest: IngestReport;
  applied: Record<string, { acked: number; perSecond: number; backlogAtEnd: number }>;
  peaks: Record<string, number>;
  loadAtStart: number[];
  timelineSends: number;
  /** CheckSuppressions calls of the suppression service by what answered them. */
  checkAnswers: Record<string, number>;
}

function report(input: ReportInput) {
  const { rows, loaded } = input;
  const find = (rpc: string, server: Row["server"], phase: Phase) => rows.find((r) => r.rpc === rpc && r.server === server && r.phase === phase)?.window;
  const ratios = [...new Set(rows.map((r) => r.rpc))].map((rpc) => {
    const at = (server: Row["server"], phase: Phase) => find(rpc, server, phase)!;
    const vsBaseline = (phase: Phase) => ({ p50: at("service", phase).p50Ms / at("baseline", phase).p50Ms, p99: at("service", phase).p99Ms / at("baseline", phase).p99Ms });
    const ingestOverIdle = (server: Row["server"]) => ({ p50: at(server, "ingest").p50Ms / at(server, "idle").p50Ms, p99: at(server, "ingest").p99Ms / at(server, "idle").p99Ms });
    return { rpc, idleVsBaseline: vsBaseline("idle"), ingestVsBaseline: vsBaseline("ingest"), serviceIngestOverIdle: ingestOverIdle("service"), baselineIngestOverIdle: ingestOverIdle("baseline") };
  });
  const ratioOf = (rpc: string) => ratios.find((r) => r.rpc === rpc)!;
  const x = (value: number) => (Number.isFinite(value) ? `${value >= 100 ? value.toFixed(0) : value.toFixed(value >= 10 ? 1 : 2)}×` : "n/a");
  const what = (rpc: string) => ({ CheckSuppressions: `${loaded.suppressions.loaded.toLocaleString("en-US")} stored`, GetCampaignStats: `${loaded.campaign.sent.toLocaleString("en-US")} sends`, ListSendEvents: `${loaded.timeline.loaded.toLocaleString("en-US")} other entries` })[rpc] ?? "";

  console.log(
    `\nRPC latency, gRPC h2c (connect-node client, 1 call in flight), idle and under ingest (${settings.ingestRate} events/s offered to JetStream, consumed by the 3 services), ` +
      `vs a bare connect-node server answering the same response; FerretDB v1 (SQLite), ${settings.batch}-doc bulk loads` +
      `\ndata (BENCH_RPC_SUPPRESSIONS / _CAMPAIGN_SENDS / _TIMELINE_FILLER, defaults 100,000 / 100,000 / 20,000): ${loaded.suppressions.loaded.toLocaleString("en-US")} suppressions, a campaign of ${loaded.campaign.loaded.toLocaleString("en-US")} sends, ` +
      `delivery_timeline of ${loaded.timeline.loaded.toLocaleString("en-US")} filler entries + ${input.timelineSends}×${timelineTypes.length} measured; loaded in ${loaded.seconds.toFixed(0)} s`,
  );
  console.log(table(rows.map((row) => {
    const r = ratioOf(row.rpc);
    const service = row.server === "service";
    const vs = row.phase === "idle" ? r.idleVsBaseline : r.ingestVsBaseline;
    const overIdle = service ? r.serviceIngestOverIdle : r.baselineIngestOverIdle;
    return {
      rpc: row.rpc,
      data: service ? what(row.rpc) : "constant",
      server: row.server,
      phase: row.phase,
      calls: String(row.window.calls),
      "req/s": row.window.rps,
      "p50 ms": row.window.p50Ms,
      "p99 ms": row.window.p99Ms,
      "p50 vs base": service ? x(vs.p50) : "",
      "p99 vs base": service ? x(vs.p99) : "",
      "p50 ingest/idle": row.phase === "ingest" ? x(overIdle.p50) : "",
      "p99 ingest/idle": row.phase === "ingest" ? x(overIdle.p99) : "",
      errors: String(row.window.errors),
    };
  })));
  const processes = Object.keys(input.idle.cores);
  console.log(`\nCPU cores used per process over each phase, peak RSS:`);
  console.log(table(processes.map((name) => ({ process: name, "idle phase cores": input.idle.cores[name]!, "ingest phase cores": input.underIngest.cores[name]!, "peak RSS MiB": input.peaks[name] ?? Number.NaN }))));
  console.log(`\ningest: ${input.ingest.published} envelopes published in ${input.ingest.seconds.toFixed(0)} s (${input.ingest.perSecond.toFixed(1)}/s), ${input.ingest.failed} failed; applied by each consumer during the phase:`);
  console.log(table(Object.entries(input.applied).map(([consumer, a]) => ({ consumer, acked: String(a.acked), "events/s": a.perSecond, "backlog at end": String(a.backlogAtEnd) }))));
  console.log(`\nload average at start ${input.loadAtStart.map((v) => v.toFixed(2)).join(" ")}, at end ${loadavg().map((v) => v.toFixed(2)).join(" ")}`);
  // The performance issue's target 2 (it asks for 1,000,000 stored: bench/suppression/check.ts runs that size idle).
  const targets = ([["idle", 20], ["ingest", 40]] as const).map(([phase, limitMs]) => {
    const service = find("CheckSuppressions", "service", phase);
    const baseline = find("CheckSuppressions", "baseline", phase);
    return {
      target: `2. CheckSuppressions ×1,000 vs ${loaded.suppressions.loaded.toLocaleString("en-US")} stored, ${phase}: p99 <= ${limitMs} ms`,
      figure: `p50 ${service?.p50Ms.toFixed(1)} / p99 ${service?.p99Ms.toFixed(1)} ms`,
      baseline: `bare connect-node, same response: p50 ${baseline?.p50Ms.toFixed(1)} / p99 ${baseline?.p99Ms.toFixed(1)} ms`,
      met: service !== undefined && service.p99Ms <= limitMs,
    };
  });
  console.log(`\n${verdictTable(targets)}`);
  console.log(`CheckSuppressions answered by: ${JSON.stringify(input.checkAnswers)}`);

  const result = {
    benchmark: "rpc",
    at: new Date().toISOString(),
    machine: machine(),
    backend: "FerretDB v1 (locally built, SQLite backend), nats-server with JetStream, services as Node processes",
    loadAverageAtStart: input.loadAtStart,
    settings: { ...settings, bounds, callsInFlight: 1, transport: "gRPC over HTTP/2 cleartext (@connectrpc/connect-node createGrpcTransport)" },
    loaded,
    rows: rows.map((row) => ({ rpc: row.rpc, server: row.server, phase: row.phase, ...row.window })),
    ratios,
    verdicts: targets,
    checkAnswers: input.checkAnswers,
    phases: { idle: input.idle, ingest: input.underIngest },
    ingest: input.ingest,
    appliedDuringIngest: input.applied,
    peakRssMiB: input.peaks,
  };
  writeResult("rpc", result);
  return result;
}

if (import.meta.main) {
  await runRpcBenchmark();
  process.exit(0);
}
