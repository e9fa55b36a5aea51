/**
 * A send was recorded (SendRecorded): remember it as unanswered unless the last accepted webhook came
 * after it. Read, decide (silence.ts), write under the version read; a lost race reads again. The
 * outcome depends only on the sends and the webhooks, not on their order or on which instance handled
 * which message, and a redelivery changes nothing.
 */
import { UnavailableError } from "../../shared/errors.ts";
import type { KeyedLock } from "../../shared/keyed-lock.ts";
import { afterSendRecorded } from "./silence.ts";
import type { SilenceRepository } from "./silence-repository.ts";

export interface NoteSendDeps {
  silences: Pick<SilenceRepository, "find" | "saveState">;
  /** The latest accepted webhook of the workspace this instance knows of (stored, or recorded here and not flushed yet). */
  lastAcceptedAt(workspaceId: string): Promise<Date | undefined>;
  /** Queues this instance's writers of one workspace (an optimisation: the version guard is what keeps it exact). */
  lock: KeyedLock;
}

const maxAttempts = 10;

/** "skipped" when the send changed nothing. */
export async function noteSendRecorded(deps: NoteSendDeps, workspaceId: string, recordedAt: Date): Promise<void | "skipped"> {
  return await deps.lock.run(workspaceId, async () => {
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const [stored, lastAcceptedAt] = await Promise.all([deps.silences.find(workspaceId), deps.lastAcceptedAt(workspaceId)]);
      const next = afterSendRecorded(stored?.state ?? {}, recordedAt, lastAcceptedAt);
      if (!next) return "skipped";
      if (await deps.silences.saveState(workspaceId, next, stored?.version ?? 0)) return;
    }
    throw new UnavailableError(`webhook silence of workspace ${workspaceId} kept changing under us; retry`);
  });
}
