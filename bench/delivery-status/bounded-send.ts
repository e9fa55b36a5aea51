/**
 * One send opened 10,000 times (an image proxy): what one more open costs at
 * opens #161-#200 (the baseline, same run) and at the last 40 — milliseconds
 * per write, bytes the send write sends (FerretDB rewrites the whole
 * document), commands per write, and the document's size.
 *
 * Writes 1–200 and the last 200 are applied one message at a time (the
 * consumer's path) and measured; the ones between go in batches of 100 to
 * stay within the time bound. `CODE_ROOT` runs another copy of the code (for
 * the code before retirement: `git archive HEAD services cli tools gen | tar
 * -x -C /tmp/old` and a `node_modules` symlink). Bounded: OPENS (10,000) and
 * SECONDS (110). A private FerretDB (patched, SQLite) unless MONGODB_URI.
 *
 *   node bench/delivery-status/bounded-send.ts
 *   CODE_ROOT=/tmp/old node bench/delivery-status/bounded-send.ts
 */
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { BSON } from "mongodb";
import { repoRoot } from "../../tools/local-servers.ts";
import { machine, table, writeResult } from "../lib/report.ts";
import { costAtTheEnd, WriteMeter } from "../lib/write-cost.ts";

const codeRoot = resolve(process.env.CODE_ROOT ?? repoRoot);
const opens = Number(process.env.OPENS ?? 10_000);
const deadline = Date.now() + Number(process.env.SECONDS ?? 110) * 1000;
const measured = 200;

const load = async <T>(path: string): Promise<T> => (await import(pathToFileURL(join(codeRoot, path)).href)) as T;
const { sampleEmailEvent } = await load<typeof import("../../cli/resend-samples.ts")>("cli/resend-samples.ts");
const { parseResendEvent } = await load<typeof import("../../services/shared/resend-events.ts")>("services/shared/resend-events.ts");
const { toIncomingEvent } = await load<typeof import("../../services/delivery-status/consumer.ts")>("services/delivery-status/consumer.ts");
const { SendsRepository } = await load<typeof import("../../services/delivery-status/sends-repository.ts")>("services/delivery-status/sends-repository.ts");
const { applyEvent, applyEvents } = await load<typeof import("../../services/delivery-status/use-cases/apply-event.ts")>(
  "services/delivery-status/use-cases/apply-event.ts",
);

const meter = await WriteMeter.open(`bounded_send_${process.pid}`);
const db = meter.db;
const repo = new SendsRepository(db);
await repo.ensureIndexes();
const deps = { repo, notify: () => {}, now: () => Date.now() };

const t0 = Date.parse("2026-11-20T10:00:00.000Z");
const open = (i: number) => {
  const body = sampleEmailEvent("email.opened", { emailId: "proxy", createdAt: new Date(t0 + i * 1000), to: ["ann@example.com"] });
  const svixId = `msg_${String(i).padStart(26, "0")}`;
  return toIncomingEvent(parseResendEvent({ workspaceId: "ws", svixId, receivedAtMs: t0 + i * 1000, rawBody: new TextEncoder().encode(JSON.stringify(body)) }))!;
};

const writes = meter.writes;
const measure = (n: number) => meter.measure(n, "delivery_sends", () => applyEvent(deps, open(n)));

const loadStart = machine().loadAverage1m;
let applied = 0;
let stoppedEarly = false;
for (; applied < Math.min(measured, opens) && Date.now() < deadline; applied++) await measure(applied);
while (applied < opens - measured && Date.now() < deadline) {
  const batch = Array.from({ length: Math.min(100, opens - measured - applied) }, (_, i) => open(applied + i));
  await applyEvents(deps, batch);
  applied += batch.length;
}
for (; applied < opens && Date.now() < deadline; applied++) await measure(applied);
stoppedEarly = applied < opens;

const send = (await repo.get("ws", "proxy"))!;
const doc = await db.collection("delivery_sends").findOne({ _id: "ws:proxy" as never });
const cost = costAtTheEnd(writes, applied);
const result = {
  codeRoot,
  opens: applied,
  stoppedEarly,
  openCount: send.state.openCount,
  documentBytes: BSON.calculateObjectSize(doc!),
  factsOnDocument: send.facts.length,
  ...cost,
  machine: { ...machine(), loadAverage1mAtStart: loadStart },
  database: meter.database,
};
console.log(`delivery-status, one send opened ${applied} times (code: ${codeRoot}${stoppedEarly ? "; stopped at the time bound" : ""})`);
console.log(table(result.rows));
console.log(`document: ${result.documentBytes} B, ${result.factsOnDocument} facts, openCount ${result.openCount}; ratio p50 ms ${result.ratio.ms.toFixed(2)}, bytes ${result.ratio.bytes.toFixed(2)}; load ${loadStart} -> ${machine().loadAverage1m}`);
writeResult("delivery-status-bounded-send", result);

await db.dropDatabase().catch(() => {});
await meter.close();
