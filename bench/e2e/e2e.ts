/**
 * End-to-end benchmark (issue #8, sub-benchmark 2): signed Resend webhooks
 * into the gateway, through JetStream, applied by campaign-stats (with
 * delivery-status consuming the same stream and writing the same database),
 * until GetCampaignStats shows them — beside, in the same run, the database's
 * own ceiling: raw bulk upserts/s into the same FerretDB.
 *
 *   node bench/e2e/e2e.ts            (or `npm run bench -- e2e`)
 *
 * Phase 1 (sustained): N events sent as fast as the gateway takes them
 * (bounded concurrency), then GetCampaignStats polled until the counts hold
 * every event → ingest events/s (gateway) and applied events/s (first send →
 * stats caught up; also the 10 %→90 % slope, which leaves out start-up).
 * Phase 2 (latency): events paced at half the applied rate, each with its own
 * campaign id, so "this event is queryable" is exactly "its campaign's counts
 * are non-zero" → p50/p99 from the gateway's 200 to visibility. A campaign is
 * read (BatchGetCampaignStats) when campaign-stats announces a change of it on
 * its live subject (the watch stream's trigger), and every pending campaign
 * every BENCH_E2E_POLL_MS in case an announcement is lost (resolution: one
 * RPC). Polling every pending campaign every 20 ms made the bench the
 * database's largest load once latency rose: at 600 ms latency and 75
 * events/s, 45 pending campaigns read 50 times a second, 2,250 reads/s against
 * ~500 writes/s of ingest, which fed the latency it measured.
 * Ceiling: bulkWrite of updateOne upserts by `_id` (new ids, ~0.6 KB
 * documents), batches of 500, one in flight, into a separate database on the
 * same FerretDB, while the services sit idle.
 *
 * Variables: BENCH_E2E_EVENTS (1500), BENCH_E2E_CONCURRENCY (24),
 * BENCH_E2E_LIFECYCLE (0; 1: phase 1 sends each email three events —
 * sent, delivered, opened — instead of one), BENCH_E2E_DRAIN_SECONDS (90: phase-1 deadline), BENCH_E2E_LATENCY_SECONDS (20),
 * BENCH_E2E_POLL_MS (500), BENCH_E2E_CEILING_SECONDS (10), BENCH_E2E_BATCH (500).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { MongoClient, type AnyBulkWriteOperation } from "mongodb";
import { WorkspaceSettingsService } from "../../gen/ngsreach/workspace/v1/workspace_settings_pb.ts";
import { CampaignStatsService, type CampaignStats } from "../../gen/ngsreach/stats/v1/campaign_stats_pb.ts";
import { freePort, repoRoot, startFerretDb, startNatsServer } from "../../tools/local-servers.ts";
import { newWebhookSecret, signedHeaders } from "../../cli/sign.ts";
import { sampleEmailEvent, type EmailEventType } from "../../cli/resend-samples.ts";
import { connect } from "@nats-io/transport-node";
import { campaignOfLiveSubject, liveSubjectsOf } from "../../services/campaign-stats/watch.ts";
import { eventMix } from "../gateway/events.ts";
import { cpuSeconds, findPid, peakRssMiB, stopChild } from "../lib/proc.ts";
import { machine, table, writeResult } from "../lib/report.ts";

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const eventCount = env("BENCH_E2E_EVENTS", 1500);
const concurrency = env("BENCH_E2E_CONCURRENCY", 24);
const drainSeconds = env("BENCH_E2E_DRAIN_SECONDS", 90);
const latencySeconds = env("BENCH_E2E_LATENCY_SECONDS", 20);
const pollMs = env("BENCH_E2E_POLL_MS", 500);
const ceilingSeconds = env("BENCH_E2E_CEILING_SECONDS", 10);
const batchSize = env("BENCH_E2E_BATCH", 500);
/** Phase 1 with BENCH_E2E_LIFECYCLE=1: three events per send, in this order (each still adds one count). */
const lifecycle: EmailEventType[] = process.env.BENCH_E2E_LIFECYCLE === "1" ? ["email.sent", "email.delivered", "email.opened"] : ["email.sent"];
const workspaceId = "bench_e2e";
const campaigns = 40;

const log = (line: string) => console.log(`[e2e bench] ${line}`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One realistic event per email id (the gateway benchmark's mix), so each adds exactly one count; `send`
 * makes it one event of a given send instead.
 */
export function eventBody(n: number, campaign: string, send?: { emailId: string; type: EmailEventType }): string {
  const type = send?.type ?? eventMix[n % eventMix.length]!;
  return JSON.stringify(
    sampleEmailEvent(type, {
      emailId: send?.emailId ?? randomUUID(),
      createdAt: new Date(),
      from: "Acme Product Team <newsletter@mail.acme-example.com>",
      to: [`subscriber.${n}@customer-domain-${n % 997}.example.com`],
      subject: "Your November product update: faster dashboards, new integrations and a sneak peek at what's next",
      tags: {
        campaign_id: campaign,
        subscriber_id: `sub_${n}`,
        list_id: `lst_${(n % 12).toString().padStart(3, "0")}`,
        ab_variant: n % 2 === 0 ? "subject_a" : "subject_b",
        utm_source: "ngsreach",
        utm_campaign: campaign,
        send_batch_id: `batch_${randomUUID()}`,
        template_version: "newsletter-2026-11-v14",
      },
      click: type === "email.clicked" ? { link: `https://www.acme-example.com/blog/november-update?ref=${n}` } : undefined,
      bounce: type === "email.bounced" ? { type: n % 3 === 0 ? "Transient" : "Permanent", subType: n % 3 === 0 ? "MailboxFull" : "General" } : undefined,
    }),
  );
}

/** Counts that one single-event send adds exactly one of (unique_* and scanner counts left out: they double up). */
function eventsReflected(stats: CampaignStats): number {
  return Number(stats.sent + stats.delivered + stats.deliveryDelayed + stats.hardBounced + stats.softBounced + stats.complained + stats.failed + stats.suppressed + stats.opens + stats.clicks);
}

interface Proc {
  name: string;
  child: ChildProcess;
  pid: number;
  port: number;
  logFile: string;
}

export const percentile = (sorted: number[], p: number) => (sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!);

/** Runs the whole end-to-end benchmark and returns its result object (also written to bench-results/). */
export async function runE2eBenchmark() {
  const dir = mkdtempSync(join(tmpdir(), "ngsreach-bench-e2e-"));
  const cleanups: (() => Promise<void> | void)[] = [() => rmSync(dir, { recursive: true, force: true })];
  const loadAtStart = loadavg();
  try {
    const secret = newWebhookSecret();
    const nats = await startNatsServer({ port: await freePort(), dataDir: join(dir, "nats") });
    cleanups.unshift(() => nats.stop());
    const ferret = await startFerretDb({ port: await freePort(), dataDir: join(dir, "ferretdb") });
    cleanups.unshift(() => ferret.stop());
    const common = { NATS_URL: nats.url, MONGODB_URI: ferret.url, LOG_LEVEL: "warn", LISTEN_HOST: "127.0.0.1" };

    const gateway = await startProcess(dir, "webhook-gateway", "GATEWAY_PORT", { ...common, SECRETS_KEY: `bench:${Buffer.alloc(32, 9).toString("base64")}` });
    cleanups.unshift(() => stop(gateway));
    const stats = await startProcess(dir, "campaign-stats", "CAMPAIGN_STATS_PORT", common);
    cleanups.unshift(() => stop(stats));
    const delivery = await startProcess(dir, "delivery-status", "DELIVERY_STATUS_PORT", common);
    cleanups.unshift(() => stop(delivery));
    const natsPid = findPid((cmd) => cmd.includes("nats-server") && cmd.includes(`-p\0${nats.port}\0`));
    const ferretPid = findPid((cmd) => cmd.includes("ferretdb") && cmd.includes(`127.0.0.1:${ferret.port}`));
    const pids: Record<string, number> = { gateway: gateway.pid, "campaign-stats": stats.pid, "delivery-status": delivery.pid };
    if (natsPid) pids["nats-server"] = natsPid;
    if (ferretPid) pids.ferretdb = ferretPid;

    const settings = createClient(WorkspaceSettingsService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${gateway.port}` }));
    await settings.setWebhookSecret({ workspaceId, secret, actor: "bench", note: "e2e benchmark" });
    const statsClient = createClient(CampaignStatsService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${stats.port}` }));
    const webhookUrl = `http://127.0.0.1:${gateway.port}/webhooks/resend?workspaceId=${workspaceId}`;
    const post = async (body: string): Promise<void> => {
      const response = await fetch(webhookUrl, { method: "POST", body, headers: { "content-type": "application/json", ...signedHeaders(secret, body) } });
      await response.arrayBuffer();
      if (response.status !== 200) throw new Error(`gateway answered ${response.status}`);
    };
    // Warm-up: a few events through the whole path (connections, JIT, consumers created), not counted.
    const run = randomBytes(3).toString("hex");
    for (let i = 0; i < 5; i++) await post(eventBody(i, `warm_${run}`));
    await waitUntil(async () => eventsReflected((await statsClient.getCampaignStats({ workspaceId, campaignId: `warm_${run}` })).stats!) >= 5, 30_000);

    const phase1 = await sustained(post, statsClient, run, pids);
    log(`phase 1: ingest ${Math.round(phase1.ingestPerSecond)} events/s, applied ${phase1.appliedPerSecond.toFixed(1)} events/s (10–90 % slope ${phase1.slopePerSecond.toFixed(1)}), caught up ${phase1.caughtUp}`);
    const rate = Math.max(1, phase1.appliedPerSecond / 2);
    const phase2 = await latency(post, statsClient, nats.url, run, rate);
    log(`phase 2 at ${rate.toFixed(1)} events/s: p50 ${phase2.p50Ms.toFixed(0)} ms, p99 ${phase2.p99Ms.toFixed(0)} ms, ${phase2.unresolved} not visible`);
    const ceiling = await bulkCeiling(ferret.url, ferretPid);
    log(`ceiling: ${Math.round(ceiling.upsertsPerSecond)} upserts/s (batch ${batchSize})`);
    const peaks = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, peakRssMiB(pid)]));
    return report(phase1, phase2, ceiling, peaks, loadAtStart);
  } finally {
    for (const cleanup of cleanups) await Promise.resolve(cleanup()).catch(() => undefined);
  }
}

type Post = (body: string) => Promise<void>;
type StatsClient = Client<typeof CampaignStatsService>;

async function sustained(post: Post, statsClient: StatsClient, run: string, pids: Record<string, number>) {
  const campaignIds = Array.from({ length: campaigns }, (_, i) => `cmp_${run}_${i}`);
  const perSend = lifecycle.length;
  const bodies = Array.from({ length: eventCount }, (_, n) => {
    const sendIndex = Math.floor(n / perSend);
    const send = perSend > 1 ? { emailId: `${run}-${sendIndex}`, type: lifecycle[n % perSend]! } : undefined;
    return eventBody(n, campaignIds[sendIndex % campaigns]!, send);
  });
  const applied = async () => (await statsClient.batchGetCampaignStats({ workspaceId, campaignIds })).stats.reduce((sum, s) => sum + eventsReflected(s), 0);
  const cpuBefore = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuSeconds(pid)]));
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
  while (performance.now() < deadline && (samples.at(-1)?.applied ?? 0) < sent) await sleep(100);
  polling = false;
  await poller;
  const last = samples.at(-1) ?? { atMs: performance.now() - started, applied: 0 };
  const cpuAfter = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuSeconds(pid)]));
  const at = (fraction: number) => samples.find((s) => s.applied >= fraction * sent);
  const p10 = at(0.1), p90 = at(0.9);
  const caughtUp = last.applied >= sent;
  return {
    sent,
    failed,
    ingestSeconds: ingestMs / 1000,
    ingestPerSecond: sent / (ingestMs / 1000),
    applied: last.applied,
    caughtUp,
    appliedSeconds: last.atMs / 1000,
    appliedPerSecond: last.applied / (last.atMs / 1000),
    slopePerSecond: p10 && p90 && p90.atMs > p10.atMs ? ((p90.applied - p10.applied) * 1000) / (p90.atMs - p10.atMs) : Number.NaN,
    cpuMsPerEvent: Object.fromEntries(Object.keys(pids).map((name) => [name, ((cpuAfter[name]! - cpuBefore[name]!) * 1000) / Math.max(1, last.applied)])),
    cpuCores: Object.fromEntries(Object.keys(pids).map((name) => [name, (cpuAfter[name]! - cpuBefore[name]!) / (last.atMs / 1000)])),
  };
}

async function latency(post: Post, statsClient: StatsClient, natsUrl: string, run: string, rate: number) {
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

/** A send-sized document addressed by a composed string `_id`, as the services store them. */
interface CeilingDoc {
  _id: string;
  campaignId: string;
  status: string;
  to: string;
  subject: string;
  tags: Record<string, string>;
  updatedAtMs: number;
  v: number;
  applied: string[];
}

async function bulkCeiling(url: string, ferretPid: number | undefined) {
  const client = new MongoClient(url, { directConnection: true });
  await client.connect();
  try {
    const collection = client.db("ngsreach_bench_ceiling").collection<CeilingDoc>("upserts");
    const ops = (start: number): AnyBulkWriteOperation<CeilingDoc>[] =>
      Array.from({ length: batchSize }, (_, i) => ({
        updateOne: {
          filter: { _id: `${workspaceId}:${randomUUID()}:${start + i}` },
          update: {
            $set: { campaignId: `cmp_${(start + i) % campaigns}`, status: "delivered", to: `subscriber.${start + i}@customer.example.com`, subject: "Your November product update: faster dashboards, new integrations and a sneak peek", tags: { campaign_id: "c", list_id: "l", ab_variant: "a", template_version: "newsletter-2026-11-v14" }, updatedAtMs: Date.now() },
            $inc: { v: 1 },
            $push: { applied: `msg_${start + i}` },
          },
          upsert: true,
        },
      }));
    await collection.bulkWrite(ops(-batchSize), { ordered: false }); // warm-up
    const cpu0 = ferretPid ? cpuSeconds(ferretPid) : Number.NaN;
    const started = performance.now();
    let done = 0, batches = 0;
    while (performance.now() - started < ceilingSeconds * 1000 && batches < 1000) {
      const result = await collection.bulkWrite(ops(done), { ordered: false });
      done += result.upsertedCount + result.modifiedCount;
      batches++;
    }
    const seconds = (performance.now() - started) / 1000;
    return { upserts: done, batches, batchSize, seconds, upsertsPerSecond: done / seconds, ferretCores: ferretPid ? (cpuSeconds(ferretPid) - cpu0) / seconds : Number.NaN };
  } finally {
    await client.close();
  }
}

function report(
  phase1: Awaited<ReturnType<typeof sustained>>,
  phase2: Awaited<ReturnType<typeof latency>>,
  ceiling: Awaited<ReturnType<typeof bulkCeiling>>,
  peaks: Record<string, number>,
  loadAtStart: number[],
) {
  const ratio = phase1.appliedPerSecond / ceiling.upsertsPerSecond;
  const targets = { consumersAtLeast70PercentOfCeiling: ratio >= 0.7, p99AtMost1s: phase2.p99Ms <= 1000 && phase2.unresolved === 0 };
  console.log(`\nEnd to end (gateway → JetStream → campaign-stats + delivery-status → FerretDB → GetCampaignStats), ${phase1.sent} events (${lifecycle.length} per send), ${concurrency} in flight`);
  console.log(table([
    { what: "gateway ingest (200s)", "events/s": phase1.ingestPerSecond, "p50 ms": Number.NaN, "p99 ms": Number.NaN, note: `${phase1.sent} in ${phase1.ingestSeconds.toFixed(1)} s, ${phase1.failed} failed` },
    { what: "applied → queryable stats", "events/s": phase1.appliedPerSecond, "p50 ms": Number.NaN, "p99 ms": Number.NaN, note: `${phase1.applied}/${phase1.sent} in ${phase1.appliedSeconds.toFixed(1)} s${phase1.caughtUp ? "" : " (DEADLINE)"}; 10–90 % slope ${phase1.slopePerSecond.toFixed(1)}/s` },
    { what: `latency at ${phase2.rate.toFixed(1)} events/s`, "events/s": phase2.rate, "p50 ms": phase2.p50Ms, "p99 ms": phase2.p99Ms, note: `${phase2.visible} visible, ${phase2.unresolved} not; read on change` },
    { what: "ceiling: bulk upserts", "events/s": ceiling.upsertsPerSecond, "p50 ms": Number.NaN, "p99 ms": Number.NaN, note: `${ceiling.batches}×${ceiling.batchSize} in ${ceiling.seconds.toFixed(1)} s, ferretdb ${ceiling.ferretCores.toFixed(2)} cores` },
  ]));
  console.log(`\nphase 1 CPU per applied event and cores used, by process:`);
  console.log(table(Object.keys(phase1.cpuMsPerEvent).map((name) => ({ process: name, "CPU ms/event": phase1.cpuMsPerEvent[name]!, cores: phase1.cpuCores[name]!, "peak RSS MiB": peaks[name] ?? Number.NaN }))));
  console.log(
    `\nratio applied/ceiling: ${ratio.toFixed(3)}` +
      `\ntargets: consumers >= 70 % of ceiling ${targets.consumersAtLeast70PercentOfCeiling ? "MET" : "NOT MET"} (${(ratio * 100).toFixed(1)} %); p99 <= 1 s ${targets.p99AtMost1s ? "MET" : "NOT MET"} (${phase2.p99Ms.toFixed(0)} ms)` +
      `\nload average at start ${loadAtStart.map((v) => v.toFixed(2)).join(" ")}, at end ${loadavg().map((v) => v.toFixed(2)).join(" ")}`,
  );
  const result = {
    benchmark: "e2e",
    at: new Date().toISOString(),
    machine: machine(),
    loadAverageAtStart: loadAtStart,
    settings: { eventCount, eventsPerSend: lifecycle.length, concurrency, drainSeconds, latencySeconds, pollMs, ceilingSeconds, batchSize, campaigns },
    sustained: phase1,
    latency: phase2,
    ceiling,
    ratio,
    targets,
    peakRssMiB: peaks,
  };
  writeResult("e2e", result);
  return result;
}

export async function startProcess(dir: string, name: string, portVariable: string, extraEnv: Record<string, string>): Promise<Proc> {
  const port = await freePort();
  const logFile = join(dir, `${name}.log`);
  const out = createWriteStream(logFile);
  const child = spawn(process.execPath, [join(repoRoot, "services", name, "main.ts")], {
    cwd: repoRoot,
    env: { ...process.env, ...extraEnv, [portVariable]: String(port) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.pipe(out);
  child.stderr!.pipe(out);
  const proc = { name, child, pid: child.pid!, port, logFile };
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited: ${readFileSync(logFile, "utf8")}`);
    if (await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false)) return proc;
    await sleep(100);
  }
  await stop(proc);
  throw new Error(`${name} not healthy within 30 s: ${readFileSync(logFile, "utf8")}`);
}

const stop = (proc: Proc) => stopChild(proc.child);

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`warm-up events not visible in campaign stats within ${timeoutMs / 1000} s`);
}


if (import.meta.main) {
  await runE2eBenchmark();
  process.exit(0);
}
