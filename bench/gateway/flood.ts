/**
 * Flood benchmark (issue 13, item 6: abuse must not slow good traffic).
 * Signed, realistic Resend events at a fixed rate from 127.0.0.1 — alone, and
 * while a concurrent flood of FACTOR× as many bad requests comes from
 * 127.0.0.2 (a third each unsigned, signed with another secret, for a
 * distinct unknown workspace; see flood-requests.ts) — in the same run,
 * rounds alternating, so both see the same machine. Both loads are open
 * loops (paced-load.ts): latency is measured from when a request was due.
 * Reports verified events/s and p50/p99 per phase, the flood's answers, CPU
 * of the gateway and of FerretDB (the database work the flood causes), and
 * the gateway's log lines per phase. Loopback only, bounded in count and time
 * (about a minute with the defaults).
 *
 *   node bench/gateway/flood.ts        (or `npm run bench -- gateway-flood`)
 *
 * Variables: BENCH_FLOOD_RATE (verified events/s, 400), BENCH_FLOOD_FACTOR
 * (bad requests per verified one, 4), BENCH_FLOOD_SECONDS (per phase, 8),
 * BENCH_FLOOD_ROUNDS (3), BENCH_FLOOD_KINDS (a comma-separated subset of
 * unsigned,bad_signature,unknown_workspace), BENCH_CPU_PROF=1 (profile the
 * gateway over the whole run and print where its time went).
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { WorkspaceSettingsService } from "../../gen/ngsreach/workspace/v1/workspace_settings_pb.ts";
import { newWebhookSecret } from "../../cli/sign.ts";
import { freePort, repoRoot, startFerretDb, startNatsServer } from "../../tools/local-servers.ts";
import { cpuSeconds, findPid, stopChild } from "../lib/proc.ts";
import { summariseProfile } from "../lib/profile.ts";
import { machine, resultsDir, table, writeResult } from "../lib/report.ts";
import { startProcess } from "../lib/service-process.ts";
import { writeRequestFile } from "./events.ts";
import { floodKinds, writeFloodFile, type FloodKind } from "./flood-requests.ts";

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const rate = env("BENCH_FLOOD_RATE", 400);
const factor = env("BENCH_FLOOD_FACTOR", 4);
const seconds = env("BENCH_FLOOD_SECONDS", 8);
const rounds = env("BENCH_FLOOD_ROUNDS", 3);
/** BENCH_FLOOD_KINDS: a comma-separated subset of the flood's kinds (all three by default). */
const kinds = (process.env.BENCH_FLOOD_KINDS?.split(",") ?? [...floodKinds]) as FloodKind[];
if (kinds.some((kind) => !floodKinds.includes(kind))) throw new Error(`BENCH_FLOOD_KINDS: expected some of ${floodKinds.join(", ")}`);
const workspaceId = "bench";
/** BENCH_CPU_PROF=1: profile the gateway (whole run), summary printed at the end. */
const profileDir = process.env.BENCH_CPU_PROF === "1" ? join(resultsDir, "profiles", "gateway-flood") : undefined;
const log = (line: string) => console.log(`[gateway-flood bench] ${line}`);

interface Paced {
  scheduled: number;
  answered: number;
  durationUs: number;
  p50Us: number;
  p99Us: number;
  maxUs: number;
  statuses: Record<string, number>;
  /** p99 of how late the generator itself sent (its own CPU starvation, counted in the latencies too). */
  lagP99Us: number;
  /** CPU the generator process used, all told. */
  cpuUs: number;
  /** Every latency, sorted (dropped from the written result). */
  latenciesUs?: number[];
  unanswered: number;
  connectionErrors: number;
}

/** One paced load in its own process. */
async function paced(port: number, file: string, perSecond: number, connections: number, runSeconds: number, from: string, first: number): Promise<Paced> {
  const child = spawn(process.execPath, [join(repoRoot, "bench/gateway/paced-load.ts"), String(port), file, String(perSecond), String(connections), String(runSeconds), from, String(first)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.on("data", (chunk) => (out += chunk));
  const killer = setTimeout(() => child.kill("SIGKILL"), (runSeconds + 30) * 1000);
  await new Promise((resolve) => child.once("exit", resolve));
  clearTimeout(killer);
  const line = /BENCH_JSON (\{.*\})/.exec(out);
  if (!line) throw new Error(`paced load failed:\n${out}`);
  return JSON.parse(line[1]!) as Paced;
}

export interface FloodRow {
  round: number;
  phase: "alone" | "flood";
  verified: Paced;
  flood?: Paced;
  verifiedPerSecond: number;
  gatewayCores: number;
  ferretCores: number;
  gatewayLogLines: number;
}

export async function runGatewayFloodBenchmark() {
  const dir = mkdtempSync(join(tmpdir(), "ngsreach-bench-flood-"));
  const cleanups: (() => Promise<unknown> | unknown)[] = [() => rmSync(dir, { recursive: true, force: true })];
  try {
    if (profileDir) mkdirSync(profileDir, { recursive: true });
    const nats = await startNatsServer({ port: await freePort(), dataDir: join(dir, "nats") });
    cleanups.unshift(() => nats.stop());
    const ferret = await startFerretDb({ port: await freePort(), dataDir: join(dir, "ferretdb") });
    cleanups.unshift(() => ferret.stop());
    const gateway = await startProcess(dir, "webhook-gateway", "GATEWAY_PORT", {
      NATS_URL: nats.url,
      MONGODB_URI: ferret.url,
      SECRETS_KEY: `bench:${Buffer.alloc(32, 9).toString("base64")}`,
      LOG_LEVEL: "info",
      LISTEN_HOST: "127.0.0.1",
      ...(profileDir ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profileDir}` } : {}),
    });
    cleanups.unshift(() => stopChild(gateway.child));
    const secret = newWebhookSecret();
    const settings = createClient(WorkspaceSettingsService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${gateway.port}` }));
    await settings.setWebhookSecret({ workspaceId, secret, actor: "bench", note: "flood benchmark" });
    const ferretPid = findPid((cmd) => cmd.includes("ferretdb") && cmd.includes(`127.0.0.1:${ferret.port}`));

    const perPhase = Math.ceil(rate * seconds);
    const goodFile = join(dir, "good.bin");
    const good = await writeRequestFile({ file: goodFile, count: perPhase * (2 * rounds + 1) + 100, workspaceId, secret, idPrefix: "f" });
    const badFile = join(dir, "bad.bin");
    writeFloodFile({ file: badFile, count: Math.ceil(rate * factor * (seconds + 2)), workspaceId, kinds });
    log(`verified ${rate}/s (bodies ${good.minBodyBytes}–${good.maxBodyBytes} B), flood ${rate * factor}/s (${factor}×), ${seconds} s per phase, ${rounds} rounds`);

    let cursor = 0;
    const measure = async (round: number, phase: "alone" | "flood", runSeconds = seconds): Promise<FloodRow> => {
      const logLinesBefore = readFileSync(gateway.logFile, "utf8").split("\n").length;
      const before = { gateway: cpuSeconds(gateway.pid), ferret: ferretPid ? cpuSeconds(ferretPid) : 0, at: performance.now() };
      let flood: Promise<Paced> | undefined;
      if (phase === "flood") {
        // The flood starts first and ends last, so every verified request meets it.
        flood = paced(gateway.port, badFile, rate * factor, 32, runSeconds + 1.5, "127.0.0.2", 0);
        await new Promise((resolve) => setTimeout(resolve, 600));
      }
      const verified = await paced(gateway.port, goodFile, rate, 16, runSeconds, "127.0.0.1", cursor);
      cursor += verified.scheduled;
      const floodResult = await flood;
      const elapsedS = (performance.now() - before.at) / 1000;
      const row: FloodRow = {
        round,
        phase,
        verified,
        flood: floodResult,
        verifiedPerSecond: (verified.statuses["200"] ?? 0) / (verified.durationUs / 1e6),
        gatewayCores: (cpuSeconds(gateway.pid) - before.gateway) / elapsedS,
        ferretCores: ferretPid ? (cpuSeconds(ferretPid) - before.ferret) / elapsedS : Number.NaN,
        gatewayLogLines: readFileSync(gateway.logFile, "utf8").split("\n").length - logLinesBefore,
      };
      log(
        `round ${round} ${phase}: verified ${Math.round(row.verifiedPerSecond)}/s, p50 ${(verified.p50Us / 1000).toFixed(2)} ms, p99 ${(verified.p99Us / 1000).toFixed(2)} ms, ` +
          `answers ${JSON.stringify(verified.statuses)}${floodResult ? `; flood answers ${JSON.stringify(floodResult.statuses)}` : ""}`,
      );
      return row;
    };

    await measure(0, "alone", 3); // warm-up
    const rows: FloodRow[] = [];
    for (let round = 1; round <= rounds; round++) {
      rows.push(await measure(round, "alone"));
      rows.push(await measure(round, "flood"));
    }
    if (profileDir) {
      await stopChild(gateway.child);
      const [latest] = readdirSync(profileDir).filter((name) => name.endsWith(".cpuprofile")).sort().reverse();
      const profile = summariseProfile(join(profileDir, latest!), 25);
      console.log(`\ngateway CPU profile (${join(profileDir, latest!)}), self time:`);
      console.log(table(profile.self.slice(0, 25).map((entry) => ({ "%": entry.percent, frame: entry.frame }))));
    }
    return report(rows);
  } finally {
    for (const cleanup of cleanups) await Promise.resolve(cleanup()).catch(() => undefined);
  }
}

function report(rows: FloodRow[]) {
  const printed = rows.map((row) => ({
    round: String(row.round),
    phase: row.phase,
    "verified/s": row.verifiedPerSecond,
    "p50 ms": row.verified.p50Us / 1000,
    "p99 ms": row.verified.p99Us / 1000,
    "max ms": row.verified.maxUs / 1000,
    "sender lag p99 ms": row.verified.lagP99Us / 1000,
    "verified non-200": row.verified.scheduled - (row.verified.statuses["200"] ?? 0),
    "flood/s": row.flood ? row.flood.answered / (row.flood.durationUs / 1e6) : 0,
    "flood 401": row.flood?.statuses["401"] ?? 0,
    "flood 404": row.flood?.statuses["404"] ?? 0,
    "flood 429": row.flood?.statuses["429"] ?? 0,
    "flood p99 ms": row.flood ? row.flood.p99Us / 1000 : Number.NaN,
    "gateway cores": row.gatewayCores,
    "flood sender cores": row.flood ? row.flood.cpuUs / row.flood.durationUs : 0,
    "ferretdb cores": row.ferretCores,
    "log lines": row.gatewayLogLines,
  }));
  console.log(`\nVerified webhooks at ${rate}/s, alone and under a ${factor}× flood of bad requests (open loop, loopback)`);
  console.log(table(printed));
  const ratios = Array.from({ length: rounds }, (_, i) => {
    const of = (phase: string) => rows.find((row) => row.round === i + 1 && row.phase === phase)!;
    return of("flood").verified.p99Us / of("alone").verified.p99Us;
  });
  const worst = Math.max(...ratios);
  const median = [...ratios].sort((a, b) => a - b)[Math.floor((ratios.length - 1) / 2)]!;
  // Over every round at once: 99th percentiles of a few thousand requests each swing with whatever else the machine runs.
  const pooled = (phase: string) => {
    const all = rows.filter((row) => row.phase === phase).flatMap((row) => row.verified.latenciesUs ?? []).sort((a, b) => a - b);
    return all[Math.min(all.length - 1, Math.floor(0.99 * all.length))]! / 1000;
  };
  const pooledP99 = { alone: pooled("alone"), flood: pooled("flood") };
  const pooledRatio = pooledP99.flood / pooledP99.alone;
  const everyVerifiedServed = rows.every((row) => (row.verified.statuses["200"] ?? 0) === row.verified.scheduled);
  console.log(
    `\np99 of all rounds: alone ${pooledP99.alone.toFixed(2)} ms, with flood ${pooledP99.flood.toFixed(2)} ms, ratio ${pooledRatio.toFixed(2)}; target <= 2: ${pooledRatio <= 2 ? "MET" : "NOT MET"}` +
      `\np99 with flood / without, per round: ${ratios.map((r) => r.toFixed(2)).join(", ")} (median ${median.toFixed(2)}, worst ${worst.toFixed(2)})` +
      `\nevery verified request answered 200: ${everyVerifiedServed ? "yes" : "NO"}`,
  );
  const result = { benchmark: "gateway-flood", at: new Date().toISOString(), machine: machine(), settings: { rate, factor, seconds, rounds, kinds },
    pooledP99Ms: pooledP99,
    pooledRatio,
    ratios,
    medianRatio: median,
    targetMet: pooledRatio <= 2,
    everyVerifiedServed,
    rows: rows.map(({ verified, flood, ...row }) => ({ ...row, verified: { ...verified, latenciesUs: undefined }, flood: flood && { ...flood, latenciesUs: undefined } })),
  };
  writeResult("gateway-flood", result);
  return result;
}

if (import.meta.main) await runGatewayFloodBenchmark();
