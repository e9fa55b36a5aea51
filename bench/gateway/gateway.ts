/**
 * Gateway benchmark (issue #8): signed, realistic ~1.1–1.5 KB Resend events
 * over keep-alive HTTP/1.1 from a load generator on the same machine, each
 * verified and published to JetStream with acknowledgement — beside, in the
 * same run, the baseline a user would write from Resend's docs (bare
 * `node:http` + `svix` verify, nothing stored). Rounds alternate baseline and
 * gateway so both see the same machine load; the ratio is per round.
 *
 *   node bench/gateway/gateway.ts            (or `npm run bench`)
 *
 * Variables: BENCH_GATEWAY_SECONDS (measured seconds per run, 10),
 * BENCH_GATEWAY_WARMUP_SECONDS (3), BENCH_GATEWAY_ROUNDS (2),
 * BENCH_GATEWAY_CONNECTIONS (32), BENCH_GATEWAY_EVENTS (distinct signed
 * events per request file, 200000), BENCH_CPU_PROF=1 (profile the gateway
 * with --cpu-prof; the summary is printed and saved), BENCH_GENERATOR=node
 * (skip wrk).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { WorkspaceSettingsService } from "../../gen/ngsreach/workspace/v1/workspace_settings_pb.ts";
import { RESEND_EVENTS_STREAM } from "../../services/shared/nats.ts";
import { freePort, repoRoot, startFerretDb, startNatsServer, type LocalServer } from "../../tools/local-servers.ts";
import { newWebhookSecret } from "../../cli/sign.ts";
import { cpuSeconds, findPid, peakRssMiB, stopChild } from "../lib/proc.ts";
import { loadGenerator, runLoad, type LoadResult } from "../lib/load.ts";
import { summariseProfile, type ProfileSummary } from "../lib/profile.ts";
import { machine, resultsDir, table, writeResult } from "../lib/report.ts";
import { writeRequestFile, type RequestFileInfo } from "./events.ts";
import { measureHotPath, printHotPath, type StepCost } from "./hot-path.ts";

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const seconds = env("BENCH_GATEWAY_SECONDS", 10);
const warmupSeconds = env("BENCH_GATEWAY_WARMUP_SECONDS", 3);
const rounds = env("BENCH_GATEWAY_ROUNDS", 2);
const connections = env("BENCH_GATEWAY_CONNECTIONS", 32);
const eventsPerFile = env("BENCH_GATEWAY_EVENTS", 200_000);
const cpuProfile = process.env.BENCH_CPU_PROF === "1";
const workspaceId = "bench";
/** Svix accepts ±300 s: request files older than this are rebuilt with fresh timestamps. */
const maxFileAgeMs = 200_000;

export interface RunRow {
  round: number;
  server: "baseline" | "gateway";
  load: LoadResult;
  serverCpuMsPerEvent: number;
  serverCpuCores: number;
  natsCpuMsPerEvent?: number;
  generatorCpuCores: number;
  /** Events JetStream stored during the run (gateway only). */
  stored?: number;
}

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
    const secret = newWebhookSecret();
    const nats = await startNatsServer({ port: await freePort(), dataDir: join(dir, "nats") });
    cleanups.unshift(() => nats.stop());
    const ferret = await startFerretDb({ port: await freePort(), dataDir: join(dir, "ferretdb") });
    cleanups.unshift(() => ferret.stop());

    const gatewayPort = await freePort();
    if (cpuProfile) mkdirSync(profileDir, { recursive: true });
    const gateway = spawnLogged(
      [...(cpuProfile ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`, "--cpu-prof-name=gateway-latest.cpuprofile"] : []),
        join(repoRoot, "services/webhook-gateway/main.ts")],
      {
        GATEWAY_PORT: String(gatewayPort),
        NATS_URL: nats.url,
        MONGODB_URI: ferret.url,
        SECRETS_KEY: `bench:${Buffer.alloc(32, 9).toString("base64")}`,
        LOG_LEVEL: "warn",
        LISTEN_HOST: "127.0.0.1",
      },
      join(dir, "gateway.log"),
    );
    cleanups.unshift(() => stop(gateway));
    await waitHealthy(gatewayPort, gateway, join(dir, "gateway.log"));
    const settings = createClient(WorkspaceSettingsService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${gatewayPort}` }));
    await settings.setWebhookSecret({ workspaceId, secret, actor: "bench", note: "gateway benchmark" });

    const baselinePort = await freePort();
    const baseline = spawnLogged([join(repoRoot, "bench/gateway/baseline-server.ts")], { BASELINE_SECRET: secret, BASELINE_PORT: String(baselinePort) }, join(dir, "baseline.log"));
    cleanups.unshift(() => stop(baseline));
    await waitListening(baselinePort, baseline);

    const natsPid = findPid((cmd) => cmd.includes("nats-server") && cmd.includes(`-p\0${nats.port}\0`));
    const nc = await connect({ servers: nats.url, name: "gateway-bench" });
    cleanups.unshift(() => nc.close());
    const jsm = await jetstreamManager(nc);
    const storedCount = async () => (await jsm.streams.info(RESEND_EVENTS_STREAM)).state.messages;

    // Distinct events: the gateway takes each request once (a repeat would measure the dedupe path).
    let pool: (RequestFileInfo & { cursor: number }) | undefined;
    let poolNumber = 0;
    const freshPool = async () => {
      if (pool) rmSync(pool.file, { force: true });
      const started = performance.now();
      const info = await writeRequestFile({ file: join(dir, `requests-${poolNumber}.bin`), count: eventsPerFile, workspaceId, secret, idPrefix: `p${poolNumber++}` });
      pool = { ...info, cursor: 0 };
      log(`signed ${info.count.toLocaleString("en-US")} distinct events (body ${info.minBodyBytes}–${info.maxBodyBytes} B, mean ${Math.round(info.meanBodyBytes)} B) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    };
    const take = async (expected: number, distinct: boolean) => {
      if (!pool || Date.now() - pool.createdAtMs > maxFileAgeMs || (distinct && pool.count - pool.cursor < expected)) await freshPool();
      return { file: pool!.file, start: distinct ? pool!.cursor : 0 };
    };

    let gatewayRps = 12_000;
    const measure = async (round: number, server: "baseline" | "gateway", warmup: boolean): Promise<RunRow | undefined> => {
      const target = server === "gateway" ? gateway : baseline;
      const port = server === "gateway" ? gatewayPort : baselinePort;
      const runSeconds = warmup ? warmupSeconds : seconds;
      const distinct = server === "gateway";
      const { file, start } = await take(Math.ceil(gatewayRps * runSeconds * 1.5) + 1000, distinct);
      const storedBefore = distinct ? await storedCount() : 0;
      const before = { server: cpuSeconds(target.pid), nats: natsPid ? cpuSeconds(natsPid) : 0 };
      const load = await runLoad({ port, file, start, connections, seconds: runSeconds });
      const after = { server: cpuSeconds(target.pid), nats: natsPid ? cpuSeconds(natsPid) : 0 };
      if (distinct) {
        pool!.cursor += load.sent;
        gatewayRps = load.rps;
      }
      if (warmup) return undefined;
      const row: RunRow = {
        round,
        server,
        load,
        serverCpuMsPerEvent: ((after.server - before.server) * 1000) / load.requests,
        serverCpuCores: (after.server - before.server) / load.durationS,
        natsCpuMsPerEvent: natsPid && distinct ? ((after.nats - before.nats) * 1000) / load.requests : undefined,
        generatorCpuCores: load.generatorCpuSeconds / load.durationS,
        stored: distinct ? (await storedCount()) - storedBefore : undefined,
      };
      if (row.stored !== undefined && row.stored < load.requests - load.non2xx) {
        log(`WARNING: ${load.requests - load.non2xx - row.stored} answered events were not new in the stream (repeated svix ids measure the dedupe path)`);
      }
      log(`round ${round} ${server}: ${Math.round(load.rps)} req/s, p50 ${load.p50Ms.toFixed(2)} ms, p99 ${load.p99Ms.toFixed(2)} ms, non-2xx ${load.non2xx}, errors ${load.errors}${load.wrapped ? `, WRAPPED ${load.wrapped}×` : ""}${row.stored !== undefined ? `, stored ${row.stored}` : ""}`);
      return row;
    };

    const rows: RunRow[] = [];
    for (let round = 1; round <= rounds; round++) {
      for (const server of ["baseline", "gateway"] as const) {
        if (round === 1) await measure(round, server, true);
        rows.push((await measure(round, server, false))!);
      }
    }
    const peak = { baseline: peakRssMiB(baseline.pid), gateway: peakRssMiB(gateway.pid) };

    let profile: ProfileSummary | undefined;
    if (cpuProfile) {
      await stop(gateway);
      const path = join(profileDir, "gateway-latest.cpuprofile");
      profile = summariseProfile(path, 30);
      log(`CPU profile: ${path}`);
    }
    const hotPath = measureHotPath();
    return report(rows, peak, pool!, profile, hotPath);
  } finally {
    for (const cleanup of cleanups) await Promise.resolve(cleanup()).catch(() => undefined);
  }
}

function report(rows: RunRow[], peak: { baseline: number; gateway: number }, pool: RequestFileInfo, profile: ProfileSummary | undefined, hotPath: StepCost[]) {
  const ratios = rows
    .filter((row) => row.server === "gateway")
    .map((row) => row.load.rps / rows.find((other) => other.server === "baseline" && other.round === row.round)!.load.rps);
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]!;
  const mean = (values: number[]) => values.reduce((sum, v) => sum + v, 0) / values.length;
  const of = (server: string) => rows.filter((row) => row.server === server);
  const summary = (server: "baseline" | "gateway") => ({
    rps: mean(of(server).map((row) => row.load.rps)),
    p50Ms: median(of(server).map((row) => row.load.p50Ms)),
    p99Ms: Math.max(...of(server).map((row) => row.load.p99Ms)),
    cpuMsPerEvent: mean(of(server).map((row) => row.serverCpuMsPerEvent)),
    peakRssMiB: peak[server],
  });
  const gateway = summary("gateway"), baseline = summary("baseline");
  const ratio = median(ratios);
  const printed = rows.map((row) => ({
    round: String(row.round),
    server: row.server,
    "req/s": row.load.rps,
    "p50 ms": row.load.p50Ms,
    "p99 ms": row.load.p99Ms,
    "server CPU ms/event": row.serverCpuMsPerEvent,
    "server cores": row.serverCpuCores,
    "nats CPU ms/event": row.natsCpuMsPerEvent ?? Number.NaN,
    "loadgen cores": row.generatorCpuCores,
    "peak RSS MiB": peak[row.server],
    "non-2xx": row.load.non2xx + row.load.errors,
    "stored": row.stored ?? Number.NaN,
  }));
  console.log(`\nGateway vs baseline (bare node:http + svix verify), ${rows[0]!.load.generator}, ${connections} keep-alive connections, ${seconds} s per run, bodies ${pool.minBodyBytes}–${pool.maxBodyBytes} B`);
  console.log(table(printed));
  const targets = {
    ratioAtLeast1: ratio >= 1,
    tenThousandPerSecond: gateway.rps >= 10_000,
    p99AtMost10ms: gateway.p99Ms <= 10,
  };
  console.log(
    `\nratio gateway/baseline (median of rounds): ${ratio.toFixed(2)}  [per round: ${ratios.map((r) => r.toFixed(2)).join(", ")}]` +
      `\nCPU per event ratio gateway/baseline: ${(gateway.cpuMsPerEvent / baseline.cpuMsPerEvent).toFixed(2)}` +
      `\ntargets: ratio >= 1.0 ${targets.ratioAtLeast1 ? "MET" : "NOT MET"}; >= 10,000 events/s ${targets.tenThousandPerSecond ? "MET" : "NOT MET"} (${Math.round(gateway.rps)}); p99 <= 10 ms ${targets.p99AtMost10ms ? "MET" : "NOT MET"} (${gateway.p99Ms.toFixed(2)} ms)`,
  );
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
    settings: { seconds, warmupSeconds, rounds, connections, eventsPerFile, generator: rows[0]!.load.generator, bodyBytes: { min: pool.minBodyBytes, max: pool.maxBodyBytes, mean: Math.round(pool.meanBodyBytes) } },
    gateway,
    baseline,
    ratio,
    ratios,
    cpuPerEventRatio: gateway.cpuMsPerEvent / baseline.cpuMsPerEvent,
    targets,
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
