import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BSON, MongoClient, type CommandStartedEvent, type Db } from "mongodb";
import { freePort, startFerretDb, type LocalServer } from "../../tools/local-servers.ts";

/**
 * Cost of one write of a growing document, sampled early (the baseline, same run) and at the end: what the
 * bounded-document benchmarks report (bench/delivery-status/bounded-send.ts, bench/campaign-stats/bounded-send.ts).
 */

/** One measured event: its number, time, bytes written for it and database commands it took. */
export interface Write {
  n: number;
  ms: number;
  bytes: number;
  commands: number;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

function row(what: string, sample: Write[]) {
  return {
    what,
    events: sample.length,
    "p50 ms": median(sample.map((write) => write.ms)),
    "max ms": Math.max(...sample.map((write) => write.ms)),
    "p50 bytes/event": median(sample.map((write) => write.bytes)),
    "max bytes/event": Math.max(...sample.map((write) => write.bytes)),
    "commands/event": sample.reduce((sum, write) => sum + write.commands, 0) / sample.length,
  };
}

/** Events #161-#200 against the last 40 of `applied`, and their ratios. */
export function costAtTheEnd(writes: readonly Write[], applied: number) {
  const window = (from: number, to: number) => writes.filter((write) => write.n >= from && write.n <= to);
  const baseline = row("baseline: opens #161-#200", window(161, 200));
  const last = row(`opens #${applied - 39}-#${applied}`, window(applied - 39, applied));
  return {
    rows: [baseline, last],
    ratio: { ms: last["p50 ms"] / baseline["p50 ms"], bytes: last["p50 bytes/event"] / baseline["p50 bytes/event"] },
  };
}

/**
 * A database whose commands are counted (a private FerretDB unless MONGODB_URI is set), and the cost of
 * each measured step: its time, its commands, and the bytes of its updates to one collection.
 */
export class WriteMeter {
  readonly writes: Write[] = [];
  readonly db: Db;
  /** What the numbers were measured against, for the report. */
  readonly database: string;
  private readonly commands: CommandStartedEvent[] = [];
  private readonly client: MongoClient;
  private readonly server: LocalServer | undefined;

  private constructor(db: Db, database: string, client: MongoClient, server: LocalServer | undefined) {
    this.db = db;
    this.database = database;
    this.client = client;
    this.server = server;
    client.on("commandStarted", (event) => this.commands.push(event));
  }

  static async open(databaseName: string): Promise<WriteMeter> {
    let server: LocalServer | undefined;
    let uri = process.env.MONGODB_URI;
    if (!uri) {
      server = await startFerretDb({ port: await freePort(), dataDir: mkdtempSync(join(tmpdir(), "bench-ferret-")) });
      uri = server.url;
    }
    const client = await new MongoClient(uri, { monitorCommands: true }).connect();
    const described = server ? "private FerretDB v1 (patched), SQLite" : uri.replace(/\/\/[^@]*@/, "//");
    return new WriteMeter(client.db(databaseName), described, client, server);
  }

  /** Runs step `n` (from 0) and records what it cost; `collection`: whose update bytes count. */
  async measure(n: number, collection: string, step: () => Promise<unknown>): Promise<void> {
    this.commands.length = 0;
    const started = performance.now();
    await step();
    const ms = performance.now() - started;
    const updates = this.commands.filter((command) => command.commandName === "update" && command.command.update === collection);
    const bytes = updates.reduce((sum, command) => sum + BSON.calculateObjectSize(command.command), 0);
    this.writes.push({ n: n + 1, ms, bytes, commands: this.commands.length });
  }

  async close(): Promise<void> {
    await this.client.close();
    await this.server?.stop();
  }
}
