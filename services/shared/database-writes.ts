/**
 * `ngsreach_database_write_statements_total{collection, command}`: the write
 * statements a service sends its database — one per document an insert,
 * update, delete or findAndModify may write — counted from the driver's
 * command events (one per command, so a bulk write of 500 costs one event).
 * What "document writes per applied event" (the write amplification the
 * performance work tracks) is measured from, and a rate worth watching.
 */
import type { CommandStartedEvent, MongoClient } from "mongodb";
import type { MetricsRegistry } from "./metrics.ts";

/** Where each write command keeps its statements (`findAndModify` is one). */
const statementsOf: Record<string, (command: Record<string, unknown>) => number> = {
  insert: (command) => (command.documents as unknown[] | undefined)?.length ?? 0,
  update: (command) => (command.updates as unknown[] | undefined)?.length ?? 0,
  delete: (command) => (command.deletes as unknown[] | undefined)?.length ?? 0,
  findAndModify: () => 1,
};

/** Counts `client`'s write statements on the service's registry; the client must have `monitorCommands: true`. */
export function countWriteStatements(client: MongoClient, metrics: MetricsRegistry): void {
  const statements = metrics.counter(
    "ngsreach_database_write_statements_total",
    "Write statements sent to the database, one per document an insert, update, delete or findAndModify may write.",
    ["collection", "command"],
  );
  client.on("commandStarted", (event: CommandStartedEvent) => {
    const count = statementsOf[event.commandName]?.(event.command);
    if (!count) return;
    const collection = String(event.command[event.commandName] ?? "");
    statements.inc({ collection, command: event.commandName }, count);
  });
}
