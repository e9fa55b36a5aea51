/**
 * One send opened 10,000 times, as campaign statistics apply it: what one more
 * open costs at opens #161-#200 (the baseline, same run) and at the last 40 —
 * milliseconds per event, bytes of the send's writes (the state write and the
 * removal of the done delta; FerretDB rewrites the whole document each time),
 * commands per event, and the send document's size. OPEN_EVERY_MS (3,600:
 * 10,000 opens over 10 hours) spaces the opens: the document grows with the
 * hours that have events (their counts), not with the events.
 *
 * Writes 1–200 and the last 200 are applied one message at a time and
 * measured; the ones between go in batches of 100. `CODE_ROOT` runs another
 * copy of the code (see bench/delivery-status/bounded-send.ts). Bounded:
 * OPENS (10,000) and SECONDS (110). A private FerretDB unless MONGODB_URI.
 */
import { defaultBulkSenderLimits } from "../../services/campaign-stats/deliverability/bulk-sender-limits.ts";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { BSON } from "mongodb";
import { SendRecordedSchema } from "../../gen/ngsreach/events/v1/domain_events_pb.ts";
import { repoRoot } from "../../tools/local-servers.ts";
import { machine, table, writeResult } from "../lib/report.ts";
import { costAtTheEnd, WriteMeter } from "../lib/write-cost.ts";

const codeRoot = resolve(process.env.CODE_ROOT ?? repoRoot);
const opens = Number(process.env.OPENS ?? 10_000);
const deadline = Date.now() + Number(process.env.SECONDS ?? 110) * 1000;
const measured = 200;
const openEveryMs = Number(process.env.OPEN_EVERY_MS ?? 3_600);

const load = async <T>(path: string): Promise<T> => (await import(pathToFileURL(join(codeRoot, path)).href)) as T;
const { sampleEmailEvent } = await load<typeof import("../../cli/resend-samples.ts")>("cli/resend-samples.ts");
const { parseResendEvent } = await load<typeof import("../../services/shared/resend-events.ts")>("services/shared/resend-events.ts");
const { KeyedLock } = await load<typeof import("../../services/shared/keyed-lock.ts")>("services/shared/keyed-lock.ts");
const { StatsRepository } = await load<typeof import("../../services/campaign-stats/stats-repository.ts")>("services/campaign-stats/stats-repository.ts");
const { defaultAlertSettings } = await load<typeof import("../../services/campaign-stats/alerts.ts")>("services/campaign-stats/alerts.ts");
const ingest = await load<typeof import("../../services/campaign-stats/use-cases/ingest.ts")>("services/campaign-stats/use-cases/ingest.ts");

const meter = await WriteMeter.open(`bounded_stats_${process.pid}`);
const db = meter.db;
const repo = new StatsRepository(db);
await repo.init();
const deps = {
  repo,
  rules: { scannerWindowMs: 10_000 },
  alerts: defaultAlertSettings,
  publishAlert: async () => {},
  limits: defaultBulkSenderLimits,
  publishLimitAlert: async () => {},
  notifyChanged: () => {},
  crashPoint: () => {},
  done: new ingest.DoneRefs(),
  flowLocks: new KeyedLock(),
  now: () => Date.now(),
};

const t0 = Date.parse("2026-11-20T10:00:00.000Z");
await ingest.applySendsRecorded(deps, [
  create(SendRecordedSchema, { workspaceId: "ws", emailId: "proxy", campaignId: "spring", subscriberId: "s", recipient: "a@example.com", sentTime: timestampFromMs(t0) }),
]);
const open = (i: number) => {
  const body = sampleEmailEvent("email.opened", { emailId: "proxy", createdAt: new Date(t0 + 60_000 + i * openEveryMs), to: ["ann@example.com"] });
  const svixId = `msg_${String(i).padStart(26, "0")}`;
  return parseResendEvent({ workspaceId: "ws", svixId, receivedAtMs: t0, rawBody: new TextEncoder().encode(JSON.stringify(body)) });
};

const writes = meter.writes;
const measure = (n: number) => meter.measure(n, "stats_sends", () => ingest.applyResendEvents(deps, [open(n)]));

const loadStart = machine().loadAverage1m;
let applied = 0;
for (; applied < Math.min(measured, opens) && Date.now() < deadline; applied++) await measure(applied);
while (applied < opens - measured && Date.now() < deadline) {
  const batch = Array.from({ length: Math.min(100, opens - measured - applied) }, (_, i) => open(applied + i));
  await ingest.applyResendEvents(deps, batch);
  applied += batch.length;
}
for (; applied < opens && Date.now() < deadline; applied++) await measure(applied);
const stoppedEarly = applied < opens;

const doc = await db.collection("stats_sends").findOne({ _id: "ws:proxy" as never });
const campaign = await repo.getCampaign("ws", "spring");
const cost = costAtTheEnd(writes, applied);
const result = {
  codeRoot,
  opens: applied,
  openEveryMs,
  hoursWithOpens: Math.ceil((applied * openEveryMs) / 3_600_000),
  stoppedEarly,
  campaignOpens: campaign?.counts.opens,
  documentBytes: BSON.calculateObjectSize(doc!),
  appliedOnDocument: (doc!.applied as unknown[]).length,
  ...cost,
  machine: { ...machine(), loadAverage1mAtStart: loadStart },
  database: meter.database,
};
console.log(`campaign-stats, one send opened ${applied} times, one every ${openEveryMs} ms (~${result.hoursWithOpens} hours; code: ${codeRoot}${stoppedEarly ? "; stopped at the time bound" : ""})`);
console.log(table(result.rows));
console.log(`document: ${result.documentBytes} B, ${result.appliedOnDocument} causes listed, campaign opens ${result.campaignOpens}; ratio p50 ms ${result.ratio.ms.toFixed(2)}, bytes ${result.ratio.bytes.toFixed(2)}; load ${loadStart} -> ${machine().loadAverage1m}`);
writeResult("campaign-stats-bounded-send", result);

await db.dropDatabase().catch(() => {});
await meter.close();
