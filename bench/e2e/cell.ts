/**
 * One cell of the e2e benchmark: a fresh private stack — nats-server, the
 * database (backend.ts), the gateway, and N instances each of campaign-stats
 * and delivery-status (each its own process on its own port, all consuming
 * the same durable consumers) — warmed up, then phase 1 (sustained.ts),
 * optionally phase 2 (latency.ts), then the database's ceiling (ceiling.ts);
 * everything it started is stopped before it returns.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { MongoClient } from "mongodb";
import { newWebhookSecret, signedHeaders } from "../../cli/sign.ts";
import { CampaignStatsService } from "../../gen/ngsreach/stats/v1/campaign_stats_pb.ts";
import { WorkspaceSettingsService } from "../../gen/ngsreach/workspace/v1/workspace_settings_pb.ts";
import { DEAD_LETTERS_STREAM, RESEND_EVENTS_STREAM } from "../../services/shared/nats.ts";
import { freePort, startNatsServer } from "../../tools/local-servers.ts";
import { cpuSeconds, findPid, peakRssMiB, stopChild } from "../lib/proc.ts";
import { startProcess, type Proc } from "../lib/service-process.ts";
import { startDatabase, type Backend } from "./backend.ts";
import { bulkCeiling } from "./ceiling.ts";
import { allWriteStatements, writesDuring } from "./write-statements.ts";
import { consumerCounts } from "./consumer-metrics.ts";
import { eventBody, eventsReflected } from "./events.ts";
import { latency } from "./latency.ts";
import { settings } from "./settings.ts";
import { sustained, type Meters } from "./sustained.ts";

export interface CellOptions {
  backend: Backend;
  /** Instances of each consuming service (campaign-stats, delivery-status). */
  instances: number;
  /** Run phase 2 (latency at half the applied rate). */
  latency: boolean;
}

export type CellResult = Awaited<ReturnType<typeof runE2eCell>>;

const consuming = [
  { service: "campaign-stats", portVariable: "CAMPAIGN_STATS_PORT" },
  { service: "delivery-status", portVariable: "DELIVERY_STATUS_PORT" },
] as const;

const log = (line: string) => console.log(`[e2e bench] ${line}`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runE2eCell(options: CellOptions) {
  const { workspaceId } = settings;
  const cell = `${options.backend}, ${options.instances} instance${options.instances === 1 ? "" : "s"}`;
  const dir = mkdtempSync(join(tmpdir(), "ngsreach-bench-e2e-"));
  const cleanups: (() => unknown)[] = [() => rmSync(dir, { recursive: true, force: true })];
  const loadAtStart = loadavg();
  try {
    const secret = newWebhookSecret();
    const nats = await startNatsServer({ port: await freePort(), dataDir: join(dir, "nats") });
    cleanups.unshift(() => nats.stop());
    const database = await startDatabase(options.backend, dir, cleanups);
    const common = { NATS_URL: nats.url, MONGODB_URI: database.url, LOG_LEVEL: "warn", LISTEN_HOST: "127.0.0.1" };

    const gateway = await startProcess(dir, "webhook-gateway", "GATEWAY_PORT", { ...common, SECRETS_KEY: `bench:${Buffer.alloc(32, 9).toString("base64")}` });
    cleanups.unshift(() => stopChild(gateway.child));
    const services = await startServices(dir, options.instances, common, cleanups);
    const statsProc = services.find((proc) => proc.name.startsWith("campaign-stats"))!;

    const natsPid = findPid((cmd) => cmd.includes("nats-server") && cmd.includes(`-p\0${nats.port}\0`));
    const pids: Record<string, number> = { gateway: gateway.pid, ...Object.fromEntries(services.map((proc) => [proc.name, proc.pid])), ...database.pids };
    if (natsPid) pids["nats-server"] = natsPid;
    // The database's own meters first: PostgreSQL's counts every process of its cluster, not one pid.
    const meters: Meters = { ...database.cpu };
    for (const [name, pid] of Object.entries(pids)) meters[name] ??= () => cpuSeconds(pid);

    const settingsClient = createClient(WorkspaceSettingsService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${gateway.port}` }));
    await settingsClient.setWebhookSecret({ workspaceId, secret, actor: "bench", note: "e2e benchmark" });
    // Reads go to the first instance: any instance answers from the same database.
    const statsClient = createClient(CampaignStatsService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${statsProc.port}` }));
    const webhookUrl = `http://127.0.0.1:${gateway.port}/webhooks/resend?workspaceId=${workspaceId}`;
    const post = async (body: string): Promise<void> => {
      const response = await fetch(webhookUrl, { method: "POST", body, headers: { "content-type": "application/json", ...signedHeaders(secret, body) } });
      await response.arrayBuffer();
      if (response.status !== 200) throw new Error(`gateway answered ${response.status}`);
    };
    const nc = await connect({ servers: nats.url, name: "e2e-bench-monitor" });
    cleanups.unshift(() => nc.close());
    const jsm = await jetstreamManager(nc, { timeout: 5000 });
    const consumersIdle = async () => {
      const infos = await jsm.consumers.list(RESEND_EVENTS_STREAM).next();
      return infos.length > 0 && infos.every((info) => info.num_pending === 0 && info.num_ack_pending === 0);
    };

    // Warm-up: a few events through the whole path (connections, JIT, consumers created), not counted.
    const run = randomBytes(3).toString("hex");
    for (let i = 0; i < 5; i++) await post(eventBody(i, `warm_${run}`));
    await waitUntil(async () => eventsReflected((await statsClient.getCampaignStats({ workspaceId, campaignId: `warm_${run}` })).stats!) >= 5, 30_000);

    const writesBefore = await allWriteStatements(services.map((proc) => proc.port));
    const phase1 = await sustained({ post, statsClient, run, meters, consumersIdle });
    const writes = writesDuring(writesBefore, await allWriteStatements(services.map((proc) => proc.port)), phase1.finalApplied);
    const exactNote = phase1.exact ? "exact" : `${phase1.verdict.toUpperCase()}: ${phase1.finalApplied} counted for ${phase1.sent} sent`;
    log(`${cell}: phase 1 ingest ${Math.round(phase1.ingestPerSecond)} events/s, applied ${phase1.appliedPerSecond.toFixed(1)} events/s (10–90 % slope ${phase1.slopePerSecond.toFixed(1)}), caught up ${phase1.caughtUp}, ${exactNote}`);
    const consumers = Object.fromEntries(await Promise.all(services.map(async (proc) => [proc.name, await consumerCounts(proc.port)] as const)));
    const deliveryFacts = await countDeliveryFacts(database.url, phase1.campaignIds);
    const redeliveries = await redeliveriesOf(jsm);
    const deadLetters = Number((await jsm.streams.info(DEAD_LETTERS_STREAM).catch(() => undefined))?.state.messages ?? Number.NaN);
    if (deliveryFacts !== phase1.sent || deadLetters > 0) log(`${cell}: delivery-status holds ${deliveryFacts} event facts for ${phase1.sent} sent; ${deadLetters} dead letters`);

    let phase2: Awaited<ReturnType<typeof latency>> | undefined;
    if (options.latency) {
      const rate = Math.max(1, phase1.appliedPerSecond / 2);
      phase2 = await latency(post, statsClient, nats.url, run, rate);
      log(`${cell}: phase 2 at ${rate.toFixed(1)} events/s: p50 ${phase2.p50Ms.toFixed(0)} ms, p99 ${phase2.p99Ms.toFixed(0)} ms, ${phase2.unresolved} not visible`);
    }
    const ceiling = await bulkCeiling(database.url, database.cpu);
    log(`${cell}: ceiling ${Math.round(ceiling.upsertsPerSecond)} upserts/s (batch ${ceiling.batchSize}), database ${ceiling.databaseCores.toFixed(2)} cores`);
    const peaks = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, peakRssMiB(pid)]));
    const databaseMsPerEvent = Object.keys(database.cpu).reduce((sum, name) => sum + phase1.cpuMsPerEvent[name]!, 0);
    const databaseCores = Object.keys(database.cpu).reduce((sum, name) => sum + phase1.cpuCores[name]!, 0);
    return {
      backend: options.backend,
      instances: options.instances,
      databaseSettings: database.settings,
      databaseProcesses: Object.keys(database.cpu),
      sustained: phase1,
      databaseCpuMsPerEvent: databaseMsPerEvent,
      databaseCores,
      deliveryFacts,
      deadLetters,
      /** Document write statements of every consuming instance during phase 1, per applied event and by collection. */
      writes,
      /** Each service instance's consumer counters after phase 1 (warm-up included). */
      consumers,
      /** Deliveries beyond one per message, by durable consumer (ack wait ran out: the work is done again). */
      redeliveries,
      latency: phase2,
      ceiling,
      ratio: phase1.appliedPerSecond / ceiling.upsertsPerSecond,
      peakRssMiB: peaks,
      loadAverageAtStart: loadAtStart,
      loadAverageAtEnd: loadavg(),
    };
  } finally {
    for (const cleanup of cleanups) await Promise.resolve(cleanup()).catch(() => undefined);
  }
}

/**
 * The consuming services, `instances` of each, labelled "campaign-stats" (the first), "campaign-stats 2", ...
 * One after another by default: the first creates the streams and consumers, the others find them.
 */
async function startServices(dir: string, instances: number, env: Record<string, string>, cleanups: (() => unknown)[]): Promise<Proc[]> {
  const specs = Array.from({ length: instances }, (_, i) => consuming.map((spec) => ({ ...spec, label: i === 0 ? spec.service : `${spec.service} ${i + 1}` }))).flat();
  const start = async (spec: (typeof specs)[number]) => {
    const proc = await startProcess(dir, spec.service, spec.portVariable, env, spec.label);
    cleanups.unshift(() => stopChild(proc.child));
    return proc;
  };
  if (!settings.startTogether) {
    const procs: Proc[] = [];
    for (const spec of specs) procs.push(await start(spec));
    return procs;
  }
  const started = await Promise.allSettled(specs.map(start));
  const failed = started.find((result) => result.status === "rejected");
  if (failed) throw failed.reason;
  return started.map((result) => (result as PromiseFulfilledResult<Proc>).value);
}

/**
 * Deliveries beyond one per message of each durable consumer of the events stream: every message matches
 * both services' filters (`resend.events.*.email.>`), so the consumer sequence less the stream's count.
 */
async function redeliveriesOf(jsm: JetStreamManager): Promise<Record<string, number>> {
  const messages = (await jsm.streams.info(RESEND_EVENTS_STREAM)).state.messages;
  const infos = await jsm.consumers.list(RESEND_EVENTS_STREAM).next();
  return Object.fromEntries(infos.map((info) => [info.name, info.delivered.consumer_seq - messages]));
}

/**
 * Distinct events delivery-status recorded for this run's sends (one fact per svix id): what a lost update
 * between two instances writing the same send would lose. Not timed.
 */
async function countDeliveryFacts(url: string, campaignIds: string[]): Promise<number> {
  const client = new MongoClient(url, { directConnection: true });
  try {
    await client.connect();
    const sends = client.db("ngsreach").collection<{ facts?: unknown[] }>("delivery_sends");
    let facts = 0;
    for await (const doc of sends.find({ campaignId: { $in: campaignIds } }, { projection: { facts: 1 } })) facts += doc.facts?.length ?? 0;
    return facts;
  } catch {
    return Number.NaN;
  } finally {
    await client.close();
  }
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`warm-up events not visible in campaign stats within ${timeoutMs / 1000} s`);
}
