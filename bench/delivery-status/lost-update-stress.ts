/**
 * Stress for the lost update seen once in CI: 12 distinct events + 1
 * RecordSend of one send applied concurrently (the apply-event test), many
 * rounds, while other connections of the same FerretDB write other
 * collections and databases and busy processes load the CPUs.
 *
 * Every repository call is recorded, so a lost round shows how it was lost
 * (two CAS "wins" on one version = a stale read, a win whose write did not
 * stick, ...).
 *
 * Bounded: ROUNDS (default 200) and SECONDS (default 240), whichever first.
 * Env: MONGODB_URI (default: a private FerretDB), NOISE=0 (no other writers),
 * BURNERS (busy processes, default 2), CLIENT_OPTIONS (JSON MongoClient options),
 * TIMELINE=skip (no timeline inserts, i.e. no writes outside the send lock).
 */
import { fork, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MongoClient, type MongoClientOptions } from "mongodb";
import { sampleEmailEvent } from "../../cli/resend-samples.ts";
import { parseResendEvent } from "../../services/shared/resend-events.ts";
import { toIncomingEvent } from "../../services/delivery-status/consumer.ts";
import { SendsRepository, type SendWrite } from "../../services/delivery-status/sends-repository.ts";
import { applyEvent } from "../../services/delivery-status/use-cases/apply-event.ts";
import { recordSend } from "../../services/delivery-status/use-cases/record-send.ts";
import { freePort, startFerretDb, type LocalServer } from "../../tools/local-servers.ts";

if (process.argv[2] === "burn") {
  // A busy child: keeps one core loaded until killed (parent kills it; own deadline as a backstop).
  const until = Date.now() + Number(process.argv[3] ?? 300_000);
  while (Date.now() < until) for (let i = 0; i < 1e6; i++);
  process.exit(0);
}

const rounds = Number(process.env.ROUNDS ?? 200);
const deadline = Date.now() + Number(process.env.SECONDS ?? 240) * 1000;
const noise = process.env.NOISE !== "0";
const burnerCount = Number(process.env.BURNERS ?? 2);
const clientOptions = JSON.parse(process.env.CLIENT_OPTIONS ?? "{}") as MongoClientOptions;

let server: LocalServer | undefined;
let uri = process.env.MONGODB_URI;
if (!uri) {
  server = await startFerretDb({ port: await freePort(), dataDir: mkdtempSync(join(tmpdir(), "bench-ferret-")) });
  uri = server.url;
}
const client = await new MongoClient(uri, clientOptions).connect();
const noiseClient = await new MongoClient(uri).connect();
const dbName = `stress_${process.pid}`;

const t0 = Date.parse("2026-11-20T10:00:00.000Z");
function incoming(workspaceId: string, emailId: string, svixId: string, seconds: number) {
  const body = sampleEmailEvent("email.opened", { emailId, createdAt: new Date(t0 + seconds * 1000), to: ["ann@example.com"] });
  const envelope = parseResendEvent({ workspaceId, svixId, receivedAtMs: t0, rawBody: new TextEncoder().encode(JSON.stringify(body)) });
  return toIncomingEvent(envelope)!;
}

type Op = { op: string; at: number; detail: string };
class RecordingRepository extends SendsRepository {
  ops: Op[] = [];
  override async get(workspaceId: string, emailId: string) {
    const send = await super.get(workspaceId, emailId);
    this.ops.push({ op: "get", at: performance.now(), detail: send ? `v${send.version} facts=${send.facts.length}` : "none" });
    return send;
  }
  override async clearPendingSendRecorded(workspaceId: string, emailId: string) {
    this.ops.push({ op: "clear>", at: performance.now(), detail: "outbox $unset sent" });
    await super.clearPendingSendRecorded(workspaceId, emailId);
    this.ops.push({ op: "clear<", at: performance.now(), detail: "outbox $unset done" });
  }
  override async putTimelineEntry(entry: Parameters<SendsRepository["putTimelineEntry"]>[0]) {
    if (process.env.TIMELINE === "skip") return;
    await super.putTimelineEntry(entry);
  }
  override async writeMany(writes: SendWrite[]) {
    const won = await super.writeMany(writes);
    for (const { send, expectedVersion } of writes) {
      const detail = `${expectedVersion === undefined ? "insert" : `v${expectedVersion}->${send.version}`} facts=${send.facts.length} won=${won}`;
      this.ops.push({ op: expectedVersion === undefined ? "insert" : "cas", at: performance.now(), detail });
    }
    return won;
  }
}

// Noise: what other test files do to the same FerretDB at the same time.
let stopNoise = false;
const noiseLoops: Promise<void>[] = [];
if (noise) {
  for (let w = 0; w < 4; w++) {
    noiseLoops.push(
      (async () => {
        let i = 0;
        while (!stopNoise) {
          i++;
          const db = noiseClient.db(`noise_${process.pid}_${w}_${i % 3}`);
          await db.collection("things").insertOne({ _id: `${i}` as any, pad: "x".repeat(500) }).catch(() => {});
          await db.collection("things").updateOne({ _id: `${i}` as any, pad: { $exists: true } }, { $set: { n: i } }).catch(() => {});
          if (i % 25 === 0) await db.dropDatabase().catch(() => {});
        }
      })(),
    );
  }
  // Same database, other collection (like the timeline writes and other sends).
  noiseLoops.push(
    (async () => {
      let i = 0;
      const c = noiseClient.db(dbName).collection<any>("other");
      while (!stopNoise) {
        i++;
        await c.insertOne({ _id: `o${i}`, pad: "y".repeat(300) }).catch(() => {});
      }
    })(),
  );
}
const burners: ChildProcess[] = Array.from({ length: burnerCount }, () =>
  fork(new URL(import.meta.url).pathname, ["burn", String(Number(process.env.SECONDS ?? 240) * 1000 + 30_000)], { stdio: "ignore" }),
);

const repo = new RecordingRepository(client.db(dbName));
await repo.ensureIndexes();
const deps = {
  repo,
  notify: () => {},
  now: () => t0 + 7_200_000,
  publisher: { publishSendRecorded: async () => {} },
  onPublishFailure: () => {},
};

let done = 0;
let lost = 0;
let errors = 0;
const started = performance.now();
try {
  for (let round = 0; round < rounds && Date.now() < deadline; round++) {
    const ws = `ws${round}`;
    repo.ops = [];
    const events = Array.from({ length: 12 }, (_, i) => incoming(ws, "e2", `svix_open_${i}`, i));
    try {
      await Promise.all([
        ...events.map((event) => applyEvent(deps, event)),
        recordSend(deps, { workspaceId: ws, emailId: "e2", campaignId: "c", subscriberId: "s", recipient: "ann@example.com" }),
      ]);
    } catch (error) {
      errors++;
      console.log(`round ${round}: error ${String(error)}`);
      continue;
    }
    done++;
    const send = await SendsRepository.prototype.get.call(repo, ws, "e2");
    if (send?.state.openCount !== 12 || !send.state.attributed || send.version !== 13) {
      lost++;
      console.log(`round ${round}: LOST openCount=${send?.state.openCount} attributed=${send?.state.attributed} version=${send?.version}`);
      for (const op of repo.ops) console.log(`  ${(op.at - started).toFixed(1).padStart(9)} ms ${op.op.padEnd(6)} ${op.detail}`);
    }
  }
} finally {
  stopNoise = true;
  for (const burner of burners) burner.kill();
  await Promise.all(noiseLoops);
  await client.db(dbName).dropDatabase().catch(() => {});
  await client.close();
  await noiseClient.close();
  await server?.stop();
}
console.log(`rounds ${done}, lost ${lost}, errors ${errors}, ${((performance.now() - started) / 1000).toFixed(1)} s, options ${JSON.stringify(clientOptions)}`);
