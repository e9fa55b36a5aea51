/**
 * `npm run bench`: the project's benchmarks, one after another, each printing
 * a small table and writing JSON under bench-results/ (git-ignored). Every
 * figure stands beside a baseline measured in the same run on the same
 * machine, as a ratio (machines are shared and noisy). Benchmarks are
 * scripts, never timed tests; loads are bounded in count and time, loopback
 * only. The whole run stays under 10 minutes.
 *
 *   npm run bench                 # every sub-benchmark
 *   npm run bench -- gateway      # only the named ones
 */
import { runE2eBenchmark } from "./e2e/e2e.ts";
import { runGatewayFloodBenchmark } from "./gateway/flood.ts";
import { runGatewayBenchmark } from "./gateway/gateway.ts";
import { runGrowthBenchmark } from "./growth/growth.ts";
import { runRpcBenchmark } from "./rpc/rpc.ts";
import { runWatchLatencyBenchmark } from "./watch/watch-latency.ts";
import { verdictTable, type Verdict } from "./lib/report.ts";
import { loadavg } from "node:os";

interface SubBenchmark {
  name: string;
  describe: string;
  run(): Promise<unknown>;
}

const benchmarks: SubBenchmark[] = [
  {
    name: "gateway",
    describe: "signed Resend webhooks, SendGrid arrays and SES via SNS (v2, v1) over keep-alive HTTP: verify + JetStream publish with ack, verified events/s vs bare node:http + svix",
    run: runGatewayBenchmark,
  },
  {
    name: "gateway-flood",
    describe: "signed webhooks at a fixed rate, alone and under a concurrent 4× flood of unsigned, badly signed and unknown-workspace requests: verified events/s and p99 of both",
    run: runGatewayFloodBenchmark,
  },
  {
    name: "e2e",
    describe: "webhook → gateway → JetStream → campaign-stats (+ delivery-status) → GetCampaignStats: sustained applied events/s and event-to-queryable p50/p99 at half that rate, vs raw FerretDB bulk upserts/s",
    run: runE2eBenchmark,
  },
  {
    name: "rpc",
    describe: "CheckSuppressions ×1,000 / GetCampaignStats of a large campaign / ListSendEvents over gRPC h2c, idle and under concurrent JetStream ingest, vs a bare connect-node server answering the same response",
    run: runRpcBenchmark,
  },
  {
    name: "watch",
    describe: "event published → WatchSends / WatchCampaignStats message that reflects it: p50/p99 and share within 1 s, vs a core NATS round trip",
    run: runWatchLatencyBenchmark,
  },
  {
    name: "growth",
    describe: "CheckSuppressions, GetCampaignStats, ListSends (pages 1 and 100) and end to end with BENCH_GROWTH_SMALL and BENCH_GROWTH_LARGE documents stored: each figure's growth, flat when within 1.25x",
    run: runGrowthBenchmark,
  },
  // (bench/delivery-status, bench/campaign-stats and bench/suppression hold their owners' standalone scripts,
  // e.g. the 1,000,000-row CheckSuppressions and GetCampaignStats figures.)
];

const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !benchmarks.some((b) => b.name === name));
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(", ")}; known: ${benchmarks.map((b) => b.name).join(", ")}`);
  process.exit(2);
}
const started = performance.now();
const verdicts: Verdict[] = [];
for (const benchmark of benchmarks.filter((b) => wanted.length === 0 || wanted.includes(b.name))) {
  console.log(`\n=== ${benchmark.name}: ${benchmark.describe}`);
  const t0 = performance.now();
  const result = (await benchmark.run()) as { verdicts?: Verdict[] } | undefined;
  verdicts.push(...(result?.verdicts ?? []));
  console.log(`=== ${benchmark.name} took ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}
if (verdicts.length > 0) {
  console.log(`\nThe performance issue's targets (load average now ${loadavg().map((v) => v.toFixed(2)).join(" ")}):`);
  console.log(verdictTable(verdicts.sort((a, b) => a.target.localeCompare(b.target))));
}
console.log(`\nbench finished in ${((performance.now() - started) / 1000).toFixed(0)} s`);
process.exit(0);
