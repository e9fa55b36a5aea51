/**
 * Benchmark (not a test): GetCampaignStats latency for a campaign of
 * 1,000,000 sends. Loads per-send documents and the campaign's documents
 * with bulk inserts into a private FerretDB (SQLite backend), then times the
 * stats query (the use case the RPC calls). Loading stops after 5 minutes
 * and the size reached is reported.
 *
 *   node_modules/.bin/node bench/campaign-stats/stats-query.ts [sends]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MongoClient } from "mongodb";
import { freePort, repoRoot, startFerretDb } from "../../tools/local-servers.ts";
import { contributionOf, emptySendState, applyRecord, applyFact } from "../../services/campaign-stats/send-state.ts";
import { StatsRepository, campaignDocId } from "../../services/campaign-stats/stats-repository.ts";
import { getCampaignStats } from "../../services/campaign-stats/use-cases/queries.ts";
import { zeroCounts, countFields } from "../../services/campaign-stats/counts.ts";
import { initialAlertState } from "../../services/campaign-stats/alerts.ts";

const target = Number(process.argv[2] ?? 1_000_000);
const loadBudgetMs = 5 * 60_000;
const dir = mkdtempSync(join(tmpdir(), "bench-campaign-stats-"));
const ferret = await startFerretDb({ port: await freePort(), dataDir: dir });
const client = new MongoClient(ferret.url);
await client.connect();
const db = client.db("bench");
const repo = new StatsRepository(db);
await repo.init(db);
const ws = "ws_bench";
const campaignId = "big";
const rules = { scannerWindowMs: 10_000 };
const base = Date.UTC(2026, 10, 26, 10);

const totals = zeroCounts();
const loadStart = performance.now();
let loaded = 0;
const batch = 5000;
while (loaded < target && performance.now() - loadStart < loadBudgetMs) {
  const docs = [];
  for (let i = loaded; i < Math.min(target, loaded + batch); i++) {
    let state = applyRecord(emptySendState(), campaignId, base + i * 10);
    state = applyFact(state, { kind: "delivered", t: base + i * 10 + 30_000 });
    if (i % 3 === 0) state = applyFact(state, { kind: "opened", t: base + i * 10 + 600_000 });
    const contrib = contributionOf(state, rules);
    const campaign = contrib.find((part) => part.kind === "campaign")!;
    for (const field of countFields) totals[field] += campaign.inc[field] ?? 0;
    docs.push({ _id: `${ws}:em-${i}`, workspaceId: ws, emailId: `em-${i}`, campaignId, v: 2, state, contrib, pending: [], applied: ["record", `svix:d${i}`] });
  }
  await db.collection<any>("stats_sends").insertMany(docs, { ordered: false });
  loaded += docs.length;
  if (loaded % 100_000 === 0) console.log(`loaded ${loaded} sends in ${((performance.now() - loadStart) / 1000).toFixed(0)} s`);
}
const loadSeconds = (performance.now() - loadStart) / 1000;
await db.collection<any>("stats_campaigns").insertOne({
  _id: campaignDocId(ws, campaignId), workspaceId: ws, campaignId, ...totals, v: loaded, recent: [], alerts: initialAlertState(), outbox: [], updatedAt: Date.now(),
});

async function time(calls: number, fn: () => Promise<unknown>) {
  for (let i = 0; i < Math.min(20, calls); i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < calls; i++) {
    const start = performance.now();
    await fn();
    samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!;
  return { calls, p50Ms: +at(0.5).toFixed(3), p99Ms: +at(0.99).toFixed(3), maxMs: +samples.at(-1)!.toFixed(3) };
}

console.log(`loading stopped at ${loaded} sends after ${loadSeconds.toFixed(0)} s; timing queries`);
const stats = await getCampaignStats(repo, ws, campaignId);
if (stats.counts.sent !== loaded) throw new Error(`stats report ${stats.counts.sent} sent, loaded ${loaded}`);
const query = await time(200, () => getCampaignStats(repo, ws, campaignId));
// FerretDB v1/SQLite runs `{_id}` lookups as a full table scan (see README), so only a few samples.
const sendLookup = await time(10, () => repo.getSend(ws, `em-${Math.floor(Math.random() * loaded)}`));
console.table({ GetCampaignStats: query, "send doc by _id": sendLookup });
// The alternative design: recount the campaign from its per-send documents (what "dirty campaign"
// recounting costs here). Abandoned after 90 s.
const recountStart = performance.now();
const recount = await Promise.race([
  db.collection("stats_sends").aggregate([{ $match: { workspaceId: ws, campaignId } }, { $count: "n" }]).toArray().then((rows) => rows[0]),
  new Promise((resolve) => setTimeout(() => resolve({ abandonedAfterMs: 90_000 }), 90_000)),
]);
const recountMs = performance.now() - recountStart;

const result = {
  backend: "FerretDB v1.24.2, SQLite",
  date: new Date().toISOString(),
  sendsRequested: target,
  sendsLoaded: loaded,
  loadSeconds: +loadSeconds.toFixed(1),
  getCampaignStats: query,
  sendDocumentLookupById: sendLookup,
  recountAggregation: { ms: +recountMs.toFixed(0), result: recount },
};
console.log(JSON.stringify(result, null, 2));
mkdirSync(join(repoRoot, "bench-results"), { recursive: true });
writeFileSync(join(repoRoot, "bench-results", "campaign-stats-stats-query.json"), JSON.stringify(result, null, 2) + "\n");
await client.close().catch(() => {});
await ferret.kill();
rmSync(dir, { recursive: true, force: true });
