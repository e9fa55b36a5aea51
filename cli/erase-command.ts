/**
 * `ngsreach erase`: erases a subscriber's personal data in every service (SuppressionService.EraseSubscriber,
 * GDPR art. 17) and follows it (GetErasure every second) until every service is done: one line per change
 * into a pipe, the line redrawn in place on a terminal. --erasure-id follows one already asked for.
 * Exit 0 when done; 1 after --timeout with the services still pending (a service that is down applies
 * the request when it comes back, so the erasure is not lost); Ctrl-C stops watching, not the erasure,
 * and exits 130 as an interrupted command does (reconcile dies of the signal; this one says how to look
 * again first).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { create } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import {
  EraseSubscriberResponseSchema,
  ErasureState,
  GetErasureResponseSchema,
  SuppressionService,
  type Erasure,
} from "../gen/ngsreach/suppression/v1/suppression_pb.ts";
import { requireFlag, type CommandLine } from "./command-line.ts";
import { serviceClient } from "./endpoints.ts";
import { jsonOf, printJson, time } from "./output.ts";
import { UsageError } from "./usage-error.ts";

const pollMs = 1000;
const defaultTimeoutMs = 10 * 60_000;

export type SubscriberChoice = { case: "email"; value: string } | { case: "subscriberId"; value: string };

/** Whom a request is about: `--email` or `--subscriber-id`, exactly one, once (also export-subscriber's). */
export function subscriberOf(line: CommandLine, command: string): SubscriberChoice {
  const emails = line.flags.email ?? [];
  const ids = line.flags["subscriber-id"] ?? [];
  const how = `ngsreach ${command} --workspace ID (--email ADDRESS | --subscriber-id S)`;
  if (emails.length + ids.length === 0) throw new UsageError(`${command} needs whom: --email ADDRESS or --subscriber-id S (${how})`);
  if (emails.length + ids.length > 1) throw new UsageError(`${command} takes one subscriber: --email ADDRESS or --subscriber-id S, once (run it once per subscriber)`);
  const [value, which] = emails.length === 1 ? [emails[0]!, "email" as const] : [ids[0]!, "subscriberId" as const];
  if (!value.trim()) throw new UsageError(`--${which === "email" ? "email" : "subscriber-id"} must not be empty`);
  return { case: which, value };
}

/** --timeout: seconds, or a number with s, m or h ("90s", "10m"); 10 minutes unless given. */
function timeoutOf(line: CommandLine): number {
  const text = line.flags.timeout;
  if (text === undefined) return defaultTimeoutMs;
  const match = /^(\d{1,7})([smh]?)$/.exec(text.trim());
  if (!match) throw new UsageError("--timeout must be a duration such as 90s, 10m or 1h");
  return Number(match[1]) * { "": 1000, s: 1000, m: 60_000, h: 3_600_000 }[match[2] as "" | "s" | "m" | "h"];
}

const duration = (ms: number) => (ms % 60_000 === 0 && ms > 0 ? `${ms / 60_000} min` : `${Math.round(ms / 1000)} s`);

const lookAgain = (erasure: Erasure) => `ngsreach erase --workspace ${erasure.workspaceId} --erasure-id ${erasure.erasureId}`;

/** Each service's part on one line: "suppression done (2 document(s)), delivery-status pending, ...". */
function progressLine(erasure: Erasure): string {
  if (erasure.services.length === 0) return erasure.state === ErasureState.DONE ? "done" : "pending";
  return erasure.services.map((part) => `${part.service} ${part.done ? `done (${part.documents} document(s))` : "pending"}`).join(", ");
}

const pendingServices = (erasure: Erasure) => erasure.services.filter((part) => !part.done).map((part) => part.service);

/** Follows the erasure until it is done, the timeout passes, or Ctrl-C. */
async function follow(client: Client<typeof SuppressionService>, line: CommandLine, first: Erasure, timeoutMs: number): Promise<void> {
  const json = line.flags.json === true;
  const terminal = !json && process.stdout.isTTY === true;
  const stopped = new AbortController();
  // Kept until the process exits: a second Ctrl-C while a call is being cancelled must not kill the command.
  process.on("SIGINT", () => stopped.abort());
  process.on("SIGTERM", () => stopped.abort());
  const startedAt = Date.now();
  const deadline = startedAt + timeoutMs;
  let erasure = first;
  let shown = "";
  for (;;) {
    const done = erasure.state === ErasureState.DONE;
    const text = progressLine(erasure);
    if (terminal) {
      const waiting = done ? "" : `  (watching ${Math.round((Date.now() - startedAt) / 1000)} s; Ctrl-C stops watching, not the erasure)`;
      process.stdout.write(`\r\u001b[K${text}${waiting}${done ? "\n" : ""}`);
    } else if (!json && text !== shown) console.log(text);
    shown = text;
    if (done) {
      if (json) return printJson(jsonOf(GetErasureResponseSchema, create(GetErasureResponseSchema, { erasure })));
      return console.log(`erasure ${erasure.erasureId} of workspace ${erasure.workspaceId}: done at ${time(erasure.doneTime)} (${erasure.addresses} address(es))`);
    }
    if (Date.now() >= deadline) {
      if (terminal) process.stdout.write("\n");
      if (json) printJson(jsonOf(GetErasureResponseSchema, create(GetErasureResponseSchema, { erasure })));
      console.error(
        `ngsreach: erasure ${erasure.erasureId} is not done after ${duration(timeoutMs)}: ${pendingServices(erasure).join(", ")} still pending. ` +
          `A service that is down applies the request when it comes back; look again with: ${lookAgain(erasure)}`,
      );
      process.exitCode = 1;
      return;
    }
    try {
      await sleep(Math.min(pollMs, deadline - Date.now()), undefined, { signal: stopped.signal });
      const answer = await client.getErasure({ workspaceId: erasure.workspaceId, erasureId: erasure.erasureId }, { signal: stopped.signal });
      if (!answer.erasure) throw new Error("GetErasure answered without an erasure");
      erasure = answer.erasure;
    } catch (error) {
      if (!stopped.signal.aborted) throw error;
      if (terminal) process.stdout.write("\n");
      console.error(`stopped watching erasure ${erasure.erasureId} (the erasure goes on); look again with: ${lookAgain(erasure)}`);
      process.exitCode = 130;
      return;
    }
  }
}

export async function eraseCommand(line: CommandLine): Promise<void> {
  const workspaceId = requireFlag(line, "workspace");
  const timeoutMs = timeoutOf(line);
  const client = serviceClient(SuppressionService, "suppression", line.env);
  const erasureId = line.flags["erasure-id"];
  if (erasureId !== undefined) {
    if (line.flags.email || line.flags["subscriber-id"] || line.flags["purge-stream"] || line.flags["no-wait"]) {
      throw new UsageError("--erasure-id follows an erasure already asked for: give it without --email, --subscriber-id, --purge-stream or --no-wait");
    }
    const { erasure } = await client.getErasure({ workspaceId, erasureId });
    if (!erasure) throw new Error("GetErasure answered without an erasure");
    return await follow(client, line, erasure, timeoutMs);
  }
  const subscriber = subscriberOf(line, "erase");
  // Explicit, not $USER: the audit entry is the record of who asked for an erasure and why.
  if (!line.flags.actor?.trim()) throw new UsageError("erase needs --actor WHO (who asks for the erasure, kept in the audit)");
  if (!line.flags.note.trim()) throw new UsageError("erase needs --note WHY (e.g. the ticket of the request; kept in the audit, so not the address)");
  const answer = await client.eraseSubscriber({ workspaceId, subscriber, actor: line.flags.actor, note: line.flags.note, purgeStream: line.flags["purge-stream"] });
  const erasure = answer.erasure;
  if (!erasure) throw new Error("EraseSubscriber answered without an erasure");
  if (line.flags["no-wait"]) {
    if (line.flags.json) return printJson(jsonOf(EraseSubscriberResponseSchema, answer));
    console.log(`erasure ${erasure.erasureId} requested (${erasure.addresses} address(es))`);
    return console.log(`follow it with: ${lookAgain(erasure)}`);
  }
  if (!line.flags.json) console.log(`erasure ${erasure.erasureId} requested (${erasure.addresses} address(es))`);
  await follow(client, line, erasure, timeoutMs);
}
