/**
 * Did a service give up on one of this workspace's messages? The dead letters
 * whose original subject is the workspace's (listed as `dead-letters list`
 * reads them), by consumer, with the replay command for after the fix.
 */
import type { NatsHandles } from "../../services/shared/nats.ts";
import { listDeadLetters, type DeadLetter } from "../dead-letters.ts";
import { printable } from "../output.ts";
import { check, type Check } from "./check.ts";
import { workspaceOfSubject } from "./consumers-check.ts";

export async function deadLettersCheck(nats: NatsHandles, workspaceId: string): Promise<Check> {
  const letters = (await listDeadLetters(nats)).filter((letter) => workspaceOfSubject(letter.originalSubject) === workspaceId);
  if (letters.length === 0) return check("dead letters", "ok", "none of this workspace's messages was dead-lettered");
  const byConsumer = new Map<string, DeadLetter[]>();
  for (const letter of letters) byConsumer.set(letter.consumer, [...(byConsumer.get(letter.consumer) ?? []), letter]);
  const details = letters.map(
    (l) => `seq ${l.seq}  ${l.time.toISOString()}  ${l.consumer}  ${l.originalSubject}  ${l.attempts} attempt(s)  ${printable(l.reason)}`,
  );
  const fixes = [
    "read each reason: a bug (deploy the fix first) or a message that can never apply (nothing to replay)",
    ...[...byConsumer].map(([consumer, own]) => `after the fix: ngsreach dead-letters replay --consumer ${consumer} --seq ${own.map((l) => l.seq).join(",")}`),
  ];
  return check("dead letters", "fail", `${letters.length} message(s) of this workspace were dead-lettered: their effects are missing`, { details, fixes });
}
