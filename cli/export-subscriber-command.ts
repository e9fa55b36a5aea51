/**
 * `ngsreach export-subscriber`: everything the services hold about one subscriber, for an access request
 * (SuppressionService.ExportSubscriberData, GDPR art. 15): each streamed message as one line of protobuf
 * JSON — the subscriber record(s) first, then each send with its timeline entries — to standard output or
 * to --output FILE. The file is written beside FILE under a temporary name (readable by the owner only:
 * it holds personal data) and renamed when the stream is complete, so a failed export leaves no half
 * file. A one-line summary goes to standard error, so it never mixes with the data.
 */
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { ExportSubscriberDataResponseSchema, SuppressionService } from "../gen/ngsreach/suppression/v1/suppression_pb.ts";
import { requireFlag, type CommandLine } from "./command-line.ts";
import { serviceClient } from "./endpoints.ts";
import { subscriberOf } from "./erase-command.ts";
import { jsonOf } from "./output.ts";

interface Counts {
  subscribers: number;
  sends: number;
  events: number;
}

/** Writes every message through `write`; a send split over several messages counts once. */
async function exportLines(line: CommandLine, workspaceId: string, write: (text: string) => Promise<void>): Promise<Counts> {
  const client = serviceClient(SuppressionService, "suppression", line.env);
  const counts: Counts = { subscribers: 0, sends: 0, events: 0 };
  const sends = new Set<string>();
  for await (const message of client.exportSubscriberData({ workspaceId, subscriber: subscriberOf(line, "export-subscriber") })) {
    await write(`${JSON.stringify(jsonOf(ExportSubscriberDataResponseSchema, message))}\n`);
    if (message.part.case === "subscriber") counts.subscribers++;
    if (message.part.case === "send") {
      const send = message.part.value;
      sends.add(send.send?.emailId ?? "");
      counts.events += send.events.length;
    }
  }
  counts.sends = sends.size;
  return counts;
}

async function toStdout(text: string): Promise<void> {
  if (!process.stdout.write(text)) await once(process.stdout, "drain");
}

/** Exports into a temporary file beside `file`, renamed to it once complete; removed if anything fails. */
async function toFile(file: string, run: (write: (text: string) => Promise<void>) => Promise<Counts>): Promise<Counts> {
  const partial = join(dirname(file), `.${basename(file)}.${randomUUID()}.partial`);
  const handle = await open(partial, "wx", 0o600);
  try {
    const counts = await run(async (text) => void (await handle.write(text)));
    await handle.sync();
    await handle.close();
    await rename(partial, file);
    return counts;
  } catch (error) {
    await handle.close().catch(() => {});
    await rm(partial, { force: true });
    throw error;
  }
}

export async function exportSubscriberCommand(line: CommandLine): Promise<void> {
  const workspaceId = requireFlag(line, "workspace");
  subscriberOf(line, "export-subscriber"); // a usage error before any file is created
  const file = line.flags.output;
  const counts = file ? await toFile(file, (write) => exportLines(line, workspaceId, write)) : await exportLines(line, workspaceId, toStdout);
  const where = file ? ` to ${file}` : "";
  console.error(`exported ${counts.subscribers} subscriber record(s), ${counts.sends} send(s), ${counts.events} timeline entries of workspace ${workspaceId}${where}`);
}
