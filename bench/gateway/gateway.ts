/**
 * Gateway benchmark (issue #8): signed, realistic ~1.1–1.5 KB Resend events
 * over keep-alive HTTP/1.1 from a load generator on the same machine, each
 * verified and published to JetStream with acknowledgement — beside, in the
 * same run, the baseline a user would write from Resend's docs (bare
 * `node:http` + `svix` verify, nothing stored). Beside them, in the same rounds,
 * the other providers' endpoints of the same gateway (issue 14): SendGrid POSTs
 * carrying arrays of events, and SES through SNS (one event per POST, signature
 * versions 2 and 1), reported in verified events/s against the baseline's.
 * Rounds alternate baseline and gateway rows so all see the same machine
 * load; the ratio is per round.
 *
 *   node bench/gateway/gateway.ts            (or `npm run bench`)
 *
 * Variables: BENCH_GATEWAY_SECONDS (measured seconds per run, 10),
 * BENCH_GATEWAY_WARMUP_SECONDS (3), BENCH_GATEWAY_ROUNDS (2),
 * BENCH_GATEWAY_CONNECTIONS (32), BENCH_GATEWAY_EVENTS (distinct signed
 * Resend events per request file, 200000), BENCH_GATEWAY_ROWS (the gateway
 * rows besides Resend's, comma-separated: sendgrid,ses-v2,ses-v1 — all by
 * default, empty for none), BENCH_GATEWAY_SENDGRID_BATCH (events per SendGrid
 * POST, 100), BENCH_GATEWAY_SENDGRID_REQUESTS (most SendGrid POSTs a measured
 * run takes, 2000), BENCH_GATEWAY_SES_REQUESTS (most SNS POSTs a measured run
 * takes, 15000: each costs an RSA signature to make), BENCH_CPU_PROF=1
 * (profile the gateway with --cpu-prof; the summary is printed and saved),
 * BENCH_GENERATOR=node (skip wrk), BENCH_GATEWAY_TRACING=1 (a second gateway
 * process with OpenTelemetry tracing on, exporting to a loopback sink that
 * discards, takes Resend's requests in a row of its own after the untraced
 * gateway's, in every round), BENCH_GATEWAY_WORKERS (GATEWAY_PROCESSES of a
 * third gateway, whose worker processes take Resend's requests in a row of
 * their own after the one-process gateway's; default 2, below 2 leaves it out;
 * its CPU is the primary's and the workers').
 */
import { spawn, type ChildProcess } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { Provider } from "../../gen/ngsreach/events/v1/provider_pb.ts";
import { WorkspaceSettingsService } from "../../gen/ngsreach/workspace/v1/workspace_settings_pb.ts";
import { RESEND_EVENTS_STREAM } from "../../services/shared/nats.ts";
import { freePort, repoRoot, startFerretDb, startNatsServer } from "../../tools/local-servers.ts";
import { newWebhookSecret } from "../../cli/sign.ts";
import { createTestSigner, startCertificateServer } from "../../test/support/sns-test-kit.ts";
import { cpuSeconds, findPid, peakRssMiB, stopChild, treeCpuSeconds } from "../lib/proc.ts";
import { processTree } from "../../test/support/process-tree.ts";
import { loadGenerator, runLoad } from "../lib/load.ts";
import { summariseProfile, type ProfileSummary } from "../lib/profile.ts";
import { machine, resultsDir, table, verdictTable, writeResult, type Verdict } from "../lib/report.ts";
import { providerLines, runTable, summarise, tracingComparison, workersComparison, type PeakRss, type RunRow, type Target } from "./gateway-report.ts";
import { measureHotPath, printHotPath, type StepCost } from "./hot-path.ts";
import { requestPool, type RequestPool } from "./request-pool.ts";
import type { RequestFileInfo } from "./request-file.ts";
import { parseWorkloadNames, workloads, type WorkloadName } from "./workloads.ts";
import { startTraceSink, type TraceSink } from "./trace-sink.ts";

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const seconds = env("BENCH_GATEWAY_SECONDS", 10);
const warmupSeconds = env("BENCH_GATEWAY_WARMUP_SECONDS", 3);
const rounds = env("BENCH_GATEWAY_ROUNDS", 2);
const connections = env("BENCH_GATEWAY_CONNECTIONS", 32);
const eventsPerFile = env("BENCH_GATEWAY_EVENTS", 200_000);
const sendgridBatchSize = env("BENCH_GATEWAY_SENDGRID_BATCH", 100);
const sendgridRequestsPerRun = env("BENCH_GATEWAY_SENDGRID_REQUESTS", 2_000);
const sesRequestsPerRun = env("BENCH_GATEWAY_SES_REQUESTS", 15_000);
const cpuProfile = process.env.BENCH_CPU_PROF === "1";
const tracingRow = process.env.BENCH_GATEWAY_TRACING === "1";
// GATEWAY_PROCESSES of the workers row; below 2 leaves the row out.
const workerProcesses = env("BENCH_GATEWAY_WORKERS", 2);
// OTEL_TRACES_SAMPLER[_ARG] in the benchmark's environment reach the traced gateway (the other has no endpoint).
const sampling = process.env.OTEL_TRACES_SAMPLER ? `, ${process.env.OTEL_TRACES_SAMPLER} ${process.env.OTEL_TRACES_SAMPLER_ARG ?? ""}`.trimEnd() : "";
const tracedLabel = `gateway, Resend, tracing on${sampling}`;
const workspaceId = "bench";
const sesTopicArn = "arn:aws:sns:eu-west-1:123456789012:ngsreach-bench";

interface Proc {
  child: ChildProcess;
  pid: number;
}

const log = (line: string) => console.log(`[gateway bench] ${line}`);

/** Runs the whole gateway benchmark and returns its result object (also written to bench-results/). */
export async function runGatewayBenchmark() {
  const dir = mkdtempSync(join(tmpdir(), "ngsreach-bench-gateway-"));
  const profileDir = join(resultsDir, "profiles");
  const cleanups: (() => Promise<void> | void)[] = [() => rmSync(dir, { recursive: true, force: true })];
  try {
    log(`load generator: ${loadGenerator(log)}`);
    const rowNames = parseWorkloadNames(process.env.BENCH_GATEWAY_ROWS);
    const secret = newWebhookSecret();
    const sendgridKeys = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    // SNS names the certificate it signed with; the gateway fetches it once, here from loopback (test-only prefix).
    const snsKey = createTestSigner();
    const certificates = await startCertificateServer(snsKey.certificatePem);
    cleanups.unshift(() => certificates.close());
    const nats = await startNatsServer({ port: await freePort(), dataDir: join(dir, "nats") });
    cleanups.unshift(() => nats.stop());
    const ferret = await startFerretDb({ port: await freePort(), dataDir: join(dir, "ferretdb") });
    cleanups.unshift(() => ferret.stop());

    const gatewayPort = await freePort();
    if (cpuProfile) mkdirSync(profileDir, { recursive: true });
    const gatewayEnv = {
      NATS_URL: nats.url,
      MONGODB_URI: ferret.url,
      SECRETS_KEY: `bench:${Buffer.alloc(32, 9).toString("base64")}`,
      LOG_LEVEL: "warn",
      LISTEN_HOST: "127.0.0.1",
      SNS_EXTRA_CERT_URL_PREFIX: certificates.prefix,
      GATEWAY_PROCESSES: "1", // one process unless the row is the workers' (its CPU is one pid's)
    };
    const gateway = spawnLogged(
      [...(cpuProfile ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`, "--cpu-prof-name=gateway-latest.cpuprofile"] : []),
        join(repoRoot, "services/webhook-gateway/main.ts")],
      { ...gatewayEnv, GATEWAY_PORT: String(gatewayPort) },
      join(dir, "gateway.log"),
    );
    cleanups.unshift(() => stop(gateway));
    await waitHealthy(gatewayPort, gateway, join(dir, "gateway.log"));
    // The traced gateway: same code, database and stream, its own process; only OTEL_* differ.
    let traced: { proc: Proc; port: number; sink: TraceSink } | undefined;
    if (tracingRow) {
      const sink = await startTraceSink();
      cleanups.unshift(() => sink.close());
      const port = await freePort();
      const proc = spawnLogged(
        [join(repoRoot, "services/webhook-gateway/main.ts")],
        { ...gatewayEnv, GATEWAY_PORT: String(port), OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint, OTEL_SERVICE_NAME: "webhook-gateway-bench" },
        join(dir, "gateway-traced.log"),
      );
      cleanups.unshift(() => stop(proc));
      await waitHealthy(port, proc, join(dir, "gateway-traced.log"));
      traced = { proc, port, sink };
    }
    // The same gateway as worker processes: same code, database and stream, its own port; only GATEWAY_PROCESSES differs.
    let workers: { proc: Proc; port: number } | undefined;
    if (workerProcesses >= 2) {
      const port = await freePort();
      const proc = spawnLogged(
        [join(repoRoot, "services/webhook-gateway/main.ts")],
        { ...gatewayEnv, GATEWAY_PORT: String(port), GATEWAY_PROCESSES: String(workerProcesses) },
        join(dir, "gateway-workers.log"),
      );
      cleanups.unshift(() => stop(proc));
      await waitHealthy(port, proc, join(dir, "gateway-workers.log"));
      workers = { proc, port };
    }
    const settings = createClient(WorkspaceSettingsService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${gatewayPort}` }));
    const audit = { workspaceId, actor: "bench", note: "gateway benchmark" };
    await settings.setWebhookSecret({ ...audit, secret });
    await settings.setWebhookSecret({ ...audit, provider: Provider.SENDGRID, secret: sendgridKeys.publicKey.export({ format: "der", type: "spki" }).toString("base64") });
    await settings.setWebhookSecret({ ...audit, provider: Provider.SES, secret: sesTopicArn });

    const baselinePort = await freePort();
    const baseline = spawnLogged([join(repoRoot, "bench/gateway/baseline-server.ts")], { BASELINE_SECRET: secret, BASELINE_PORT: String(baselinePort) }, join(dir, "baseline.log"));
    cleanups.unshift(() => stop(baseline));
    await waitListening(baselinePort, baseline);

    const natsPid = findPid((cmd) => cmd.includes("nats-server") && cmd.includes(`-p\0${nats.port}\0`));
    const nc = await connect({ servers: nats.url, name: "gateway-bench" });
    cleanups.unshift(() => nc.close());
    const jsm = await jetstreamManager(nc);
    const storedCount = async () => (await jsm.streams.info(RESEND_EVENTS_STREAM)).state.messages;

    const all = workloads({
      workspaceId,
      resendSecret: secret,
      resendFileRequests: eventsPerFile,
      sendgridKey: sendgridKeys.privateKey,
      sendgridBatchSize,
      sendgridRequestsPerRun,
      sesSigner: { privateKey: snsKey.privateKey, certificateUrl: certificates.url("SimpleNotificationService-bench.pem"), topicArn: sesTopicArn },
      sesRequestsPerRun,
      rounds,
    });
    const pools = new Map<WorkloadName, RequestPool & { rps: number }>(
      rowNames.map((name) => [name, Object.assign(requestPool(dir, all[name], log), { rps: all[name].initialRps })]),
    );
    cleanups.unshift(() => pools.forEach((pool) => pool.remove()));

    const measure = async (round: number, server: Target, warmup: boolean): Promise<RunRow | undefined> => {
      const onGateway = server !== "baseline";
      // The baseline replays Resend's requests from the start: it stores nothing, so repeats cost it nothing more.
      // The traced gateway takes the next unused Resend requests, as the untraced one does.
      const pool = pools.get(server === "baseline" || server === "resend-traced" || server === "resend-workers" ? "resend" : server)!;
      const { workload } = pool;
      const other = server === "resend-traced" ? traced! : server === "resend-workers" ? workers! : undefined;
      const target = other ? other.proc : onGateway ? gateway : baseline;
      const port = other ? other.port : onGateway ? gatewayPort : baselinePort;
      // The workers row's CPU is its primary's and its workers'.
      const serverCpu = () => (server === "resend-workers" ? treeCpuSeconds(target.pid) : cpuSeconds(target.pid));
      const exportsBefore = traced?.sink.counts();
      const runSeconds = warmup ? warmupSeconds : seconds;
      const limit = onGateway && workload.maxRequestsPerRun ? Math.ceil((workload.maxRequestsPerRun * runSeconds) / seconds) : 0;
      const expected = Math.ceil(pool.rps * runSeconds * 1.5) + Math.max(connections, Math.ceil(1000 / workload.eventsPerRequest));
      // A run stopped at its limit may have sent one more request per connection: the file has room for them.
      const { file, start } = await pool.take(limit > 0 ? Math.min(limit, expected) + connections : expected, !onGateway);
      const storedBefore = onGateway ? await storedCount() : 0;
      const before = { server: serverCpu(), nats: natsPid ? cpuSeconds(natsPid) : 0 };
      const load = await runLoad({ port, file, start, connections, seconds: runSeconds, limit });
      const after = { server: serverCpu(), nats: natsPid ? cpuSeconds(natsPid) : 0 };
      // Requests in flight when the load stopped (up to one per connection: 3,200 events of SendGrid arrays) are
      // finished before the next row starts, so that their CPU and their events do not count in its figures.
      const settledCount = onGateway ? await settled(storedCount) : 0;
      const events = load.requests * (onGateway ? workload.eventsPerRequest : 1);
      if (onGateway) {
        pool.used(load.sent);
        pool.rps = load.rps;
      }
      if (warmup) return undefined;
      const row: RunRow = {
        round,
        server,
        label: server === "resend-traced" ? tracedLabel : server === "resend-workers" ? `gateway, Resend, ${workerProcesses} processes` : onGateway ? workload.label : "baseline (node:http + svix)",
        eventsPerRequest: onGateway ? workload.eventsPerRequest : 1,
        load,
        eventsPerSecond: events / load.durationS,
        serverCpuMsPerEvent: ((after.server - before.server) * 1000) / events,
        serverCpuCores: (after.server - before.server) / load.durationS,
        natsCpuMsPerEvent: natsPid && onGateway ? ((after.nats - before.nats) * 1000) / events : undefined,
        generatorCpuCores: load.generatorCpuSeconds / load.durationS,
        stored: onGateway ? settledCount - storedBefore : undefined,
      };
      if (server === "resend-traced") {
        // Spans of the run's requests still in the processor's queue are exported within OTEL_BSP_SCHEDULE_DELAY (5 s).
        const after = traced!.sink.counts();
        row.traceExports = { requests: after.requests - exportsBefore!.requests, bytes: after.bytes - exportsBefore!.bytes };
      }
      const answeredEvents = (load.requests - load.non2xx) * row.eventsPerRequest;
      if (row.stored !== undefined && row.stored < answeredEvents) {
        log(`WARNING: ${answeredEvents - row.stored} answered events were not new in the stream (repeated ids measure the dedupe path)`);
      }
      if (load.non2xx + load.errors > 0) log(`WARNING: ${server}: ${load.non2xx} non-2xx answers and ${load.errors} socket errors (see ${join(dir, "gateway.log")})`);
      log(
        `round ${round} ${server}: ${Math.round(load.rps)} req/s, ${Math.round(row.eventsPerSecond)} events/s, p50 ${load.p50Ms.toFixed(2)} ms, p99 ${load.p99Ms.toFixed(2)} ms, ` +
          `non-2xx ${load.non2xx}, errors ${load.errors}${load.wrapped ? `, WRAPPED ${load.wrapped}×` : ""}${row.stored !== undefined ? `, stored ${row.stored}` : ""}` +
          `${limit > 0 && load.sent >= limit ? `, stopped at ${limit} requests after ${load.durationS.toFixed(1)} s` : ""}`,
      );
      return row;
    };

    const rows: RunRow[] = [];
    const targets: Target[] = [
      "baseline",
      ...rowNames.flatMap((name): Target[] => (name === "resend" ? ["resend", ...(traced ? ["resend-traced" as const] : []), ...(workers ? ["resend-workers" as const] : [])] : [name])),
    ];
    for (let round = 1; round <= rounds; round++) {
      for (const server of targets) {
        if (round === 1) await measure(round, server, true);
        rows.push((await measure(round, server, false))!);
      }
    }
    const peak = {
      baseline: peakRssMiB(baseline.pid),
      gateway: peakRssMiB(gateway.pid),
      traced: traced ? peakRssMiB(traced.proc.pid) : undefined,
      workers: workers ? [...processTree(workers.proc.pid)].reduce((sum, pid) => sum + peakRssMiB(pid), 0) : undefined,
    };

    let profile: ProfileSummary | undefined;
    if (cpuProfile) {
      await stop(gateway);
      const path = join(profileDir, "gateway-latest.cpuprofile");
      profile = summariseProfile(path, 30);
      log(`CPU profile: ${path}`);
    }
    const hotPath = await measureHotPath();
    const droppedSpans = traced ? droppedSpanCount(join(dir, "gateway-traced.log")) : undefined;
    return report(rows, peak, pools.get("resend")!.info()!, profile, hotPath, droppedSpans);
  } finally {
    for (const cleanup of cleanups) await Promise.resolve(cleanup()).catch(() => undefined);
  }
}

function report(rows: RunRow[], peak: PeakRss, resendFile: RequestFileInfo, profile: ProfileSummary | undefined, hotPath: StepCost[], droppedSpans?: number) {
  const summaries = summarise(rows, peak);
  const gateway = summaries.resend!, baseline = summaries.baseline!;
  console.log(
    `\nGateway vs baseline (bare node:http + svix verify), ${rows[0]!.load.generator}, ${connections} keep-alive connections, ${seconds} s per run ` +
      `(SendGrid at most ${sendgridRequestsPerRun.toLocaleString("en-US")} POSTs, SES ${sesRequestsPerRun.toLocaleString("en-US")}), Resend bodies ${resendFile.minBodyBytes}–${resendFile.maxBodyBytes} B`,
  );
  console.log(runTable(rows, peak));
  const targets = {
    ratioAtLeast1: gateway.ratio >= 1,
    tenThousandPerSecond: gateway.rps >= 10_000,
    p99AtMost10ms: gateway.p99Ms <= 10,
  };
  console.log(
    `\nratio gateway/baseline (median of rounds): ${gateway.ratio.toFixed(2)}  [per round: ${gateway.ratios.map((r) => r.toFixed(2)).join(", ")}]` +
      `\nCPU per event ratio gateway/baseline: ${gateway.cpuPerEventRatio.toFixed(2)}` +
      `\ntargets: ratio >= 1.0 ${targets.ratioAtLeast1 ? "MET" : "NOT MET"}; >= 10,000 events/s ${targets.tenThousandPerSecond ? "MET" : "NOT MET"} (${Math.round(gateway.rps)}); p99 <= 10 ms ${targets.p99AtMost10ms ? "MET" : "NOT MET"} (${gateway.p99Ms.toFixed(2)} ms)`,
  );
  const verdicts: Verdict[] = [
    {
      target: "1. gateway: throughput >= bare baseline, CPU/event <= baseline's",
      figure: `${gateway.ratio.toFixed(2)}× the baseline's events/s, CPU/event ${gateway.cpuPerEventRatio.toFixed(2)}×`,
      baseline: `bare node:http + svix ${Math.round(baseline.rps)} req/s`,
      met: gateway.ratio >= 1 && gateway.cpuPerEventRatio <= 1,
    },
  ];
  console.log(`\n${verdictTable(verdicts)}`);
  const tracing = tracingComparison(rows, droppedSpans);
  if (tracing) console.log(`\n${tracing.line}`);
  const processes = workersComparison(rows, workerProcesses);
  if (processes) console.log(`\n${processes.line}`);
  const others = providerLines(summaries);
  if (others.length > 0) console.log(`\nother providers, verified events/s (median of rounds) against the baseline's:\n${others.map((line) => `  ${line}`).join("\n")}`);
  printHotPath(hotPath);
  if (profile) {
    console.log(`\nGateway CPU profile, self time (top 20 of ${Math.round(profile.totalMs)} ms busy):`);
    console.log(table(profile.self.slice(0, 20).map((entry) => ({ "%": entry.percent, frame: entry.frame }))));
    console.log(`\nby file:`);
    console.log(table(profile.byFile.slice(0, 12).map((entry) => ({ "%": entry.percent, file: entry.file }))));
  }
  const result = {
    benchmark: "gateway",
    at: new Date().toISOString(),
    machine: machine(),
    settings: {
      seconds, warmupSeconds, rounds, connections, eventsPerFile, sendgridBatchSize, sendgridRequestsPerRun, sesRequestsPerRun,
      generator: rows[0]!.load.generator,
      bodyBytes: { min: resendFile.minBodyBytes, max: resendFile.maxBodyBytes, mean: Math.round(resendFile.meanBodyBytes) },
    },
    gateway,
    baseline,
    ratio: gateway.ratio,
    ratios: gateway.ratios,
    cpuPerEventRatio: gateway.cpuPerEventRatio,
    targets,
    verdicts,
    /** Every gateway row's summary by name (resend, sendgrid, ses-v2, ses-v1), and the baseline's. */
    summaries,
    tracing: tracing?.figures,
    processes: processes?.figures,
    rows,
    hotPath,
    profile,
  };
  writeResult("gateway", result);
  return result;
}

function spawnLogged(args: string[], extraEnv: Record<string, string>, logFile: string): Proc {
  const out = createWriteStream(logFile);
  const child = spawn(process.execPath, args, { env: { ...process.env, ...extraEnv }, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout!.pipe(out);
  child.stderr!.pipe(out);
  return { child, pid: child.pid! };
}

const stop = (proc: Proc) => stopChild(proc.child);

/** Spans the traced gateway's batch processor dropped (queue full), from the SDK's warnings in its log. */
function droppedSpanCount(logFile: string): number {
  let dropped = 0;
  for (const match of readFileSync(logFile, "utf8").matchAll(/Dropped (\d+) spans/g)) dropped += Number(match[1]);
  return dropped;
}

/** The stream's message count once it stopped growing (two equal reads 100 ms apart; at most 10 s). */
async function settled(count: () => Promise<number>): Promise<number> {
  const deadline = Date.now() + 10_000;
  let last = await count();
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const now = await count();
    if (now === last) return now;
    last = now;
  }
  return last;
}

async function waitHealthy(port: number, proc: Proc, logFile: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) throw new Error(`gateway exited: ${readFileSync(logFile, "utf8")}`);
    const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false);
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`gateway not healthy within 30 s: ${readFileSync(logFile, "utf8")}`);
}

async function waitListening(port: number, proc: Proc): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) throw new Error("baseline server exited");
    const ok = await fetch(`http://127.0.0.1:${port}/`, { method: "POST", body: "{}" }).then(() => true, () => false);
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error("baseline server did not listen within 15 s");
}


if (import.meta.main) await runGatewayBenchmark();
