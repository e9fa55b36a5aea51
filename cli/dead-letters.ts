/**
 * Dead letters: list what a consumer could never process, and replay it after
 * a fix. `ngsreach dead-letters list [--consumer NAME]` and
 * `ngsreach dead-letters replay --consumer NAME (--all | --seq N[,N...])`.
 *
 * Replay republishes each dead letter's bytes to its original subject (the
 * `Ngs-Original-Subject` header written by services/shared/consumer.ts), so
 * it lands in its original stream again, and only then removes it from
 * DEAD_LETTERS. Every durable consumer of that subject sees the message again;
 * that is safe because every consumer's effects are idempotent by
 * (workspace, svix id), and it is what a replay from Resend's dashboard does too.
 * The republish carries the message id `replay:<dead-letter sequence>`, so a
 * replay interrupted between publish and delete and run again stores one copy
 * (within the duplicate window); it must not reuse the original message id,
 * which the stream would drop as a duplicate while the window lasts.
 */
import { isTransientFailure } from "../services/shared/failures.ts";
import { headers as natsHeaders } from "@nats-io/nats-core";
import { deadLetterHeaders } from "../services/shared/consumer.ts";
import { DEAD_LETTERS_STREAM, type NatsHandles } from "../services/shared/nats.ts";

/** One dead letter, as listed. */
export interface DeadLetter {
  /** Sequence in DEAD_LETTERS (what `--seq` takes). */
  seq: number;
  consumer: string;
  reason: string;
  /** Times the handler failed on it (older dead letters, written before the count was kept: 1). */
  attempts: number;
  originalStream: string;
  originalSubject: string;
  originalSequence: number;
  bytes: number;
  time: Date;
}

/**
 * A JetStream API read, asked again for up to 15 s while the answer is a passing one ("no responders", a
 * timeout, no quorum): on a cluster that is electing a leader the first request of a fresh connection can
 * meet it (fault scenario 7 on the cluster, in CI). Reads only: nothing here is done twice.
 */
async function answered<T>(read: () => Promise<T>): Promise<T> {
  const giveUpAt = Date.now() + 15_000;
  for (let attempt = 0; ; attempt++) {
    try {
      return await read();
    } catch (error) {
      if (!isTransientFailure(error) || Date.now() > giveUpAt) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 100 * 2 ** attempt)));
    }
  }
}

/** Every dead letter, optionally only those of one consumer, oldest first. */
export async function listDeadLetters(nats: NatsHandles, consumer?: string): Promise<DeadLetter[]> {
  const info = await answered(() => nats.jsm.streams.info(DEAD_LETTERS_STREAM));
  if (info.state.messages === 0) return [];
  const filter = consumer ? `dead.${consumer}` : "dead.>";
  const pending = Object.values(
    (await answered(() => nats.jsm.streams.info(DEAD_LETTERS_STREAM, { subjects_filter: filter }))).state.subjects ?? {},
  ).reduce((sum, n) => sum + n, 0);
  if (pending === 0) return [];
  const reader = await nats.js.consumers.get(DEAD_LETTERS_STREAM, { filter_subjects: [filter] });
  const letters: DeadLetter[] = [];
  for await (const msg of await reader.fetch({ max_messages: pending, expires: 5000 })) {
    const h = msg.headers;
    letters.push({
      seq: msg.seq,
      consumer: h?.get(deadLetterHeaders.consumer) || msg.subject.slice("dead.".length),
      reason: h?.get(deadLetterHeaders.reason) ?? "",
      attempts: Number(h?.get(deadLetterHeaders.attempts) || 1),
      originalStream: h?.get(deadLetterHeaders.stream) ?? "",
      originalSubject: h?.get(deadLetterHeaders.subject) ?? "",
      originalSequence: Number(h?.get(deadLetterHeaders.sequence) ?? 0),
      bytes: msg.data.length,
      time: new Date(Math.floor(msg.info.timestampNanos / 1e6)),
    });
    if (letters.length === pending) break;
  }
  return letters;
}

export interface ReplayResult {
  replayed: DeadLetter[];
  /** Requested sequences that are not dead letters of this consumer. */
  missing: number[];
}

/** Republishes the chosen dead letters of one consumer to their original subjects, then deletes them. */
export async function replayDeadLetters(
  nats: NatsHandles,
  options: { consumer: string; all?: boolean; seqs?: number[] },
): Promise<ReplayResult> {
  if (!options.all && !options.seqs?.length) throw new Error("choose --all or --seq N");
  const letters = await listDeadLetters(nats, options.consumer);
  const chosen = options.all ? letters : letters.filter((letter) => options.seqs!.includes(letter.seq));
  const missing = options.all ? [] : options.seqs!.filter((seq) => !letters.some((letter) => letter.seq === seq));
  const replayed: DeadLetter[] = [];
  for (const letter of chosen) {
    if (!letter.originalSubject) throw new Error(`dead letter ${letter.seq} has no ${deadLetterHeaders.subject} header`);
    const stored = await nats.jsm.streams.getMessage(DEAD_LETTERS_STREAM, { seq: letter.seq });
    if (!stored) continue; // removed meanwhile (another replay)
    const h = natsHeaders();
    h.set("Ngs-Replayed-From", `${DEAD_LETTERS_STREAM}:${letter.seq}`);
    await nats.js.publish(letter.originalSubject, stored.data, { headers: h, msgID: `replay:${letter.seq}` });
    await nats.jsm.streams.deleteMessage(DEAD_LETTERS_STREAM, letter.seq, false);
    replayed.push(letter);
  }
  return { replayed, missing };
}

/** The `ngsreach dead-letters` command: prints and sets the exit code. */
export async function deadLettersCommand(
  nats: NatsHandles,
  action: string | undefined,
  options: { consumer?: string; all?: boolean; seq?: string },
): Promise<void> {
  if (action === "list") {
    const letters = await listDeadLetters(nats, options.consumer);
    console.log(`${letters.length} dead letter(s)${options.consumer ? ` of consumer ${options.consumer}` : ""}`);
    for (const l of letters) {
      console.log(
        `  seq ${l.seq}  ${l.time.toISOString()}  ${l.consumer}  ${l.originalSubject} (${l.originalStream} #${l.originalSequence}, ${l.bytes} B, ${l.attempts} attempt(s))  ${l.reason}`,
      );
    }
    return;
  }
  if (action === "replay") {
    if (!options.consumer) throw new Error("--consumer is required");
    const seqs = options.seq?.split(",").map((s) => Number(s.trim()));
    if (seqs?.some((n) => !Number.isInteger(n) || n <= 0)) throw new Error("--seq takes sequence numbers, e.g. --seq 12,13");
    const { replayed, missing } = await replayDeadLetters(nats, { consumer: options.consumer, all: options.all, seqs });
    console.log(`replayed ${replayed.length} dead letter(s) of consumer ${options.consumer} to their original subjects`);
    for (const l of replayed) console.log(`  seq ${l.seq} -> ${l.originalSubject}`);
    if (missing.length) {
      console.error(`not dead letters of ${options.consumer}: ${missing.join(", ")}`);
      process.exitCode = 1;
    }
    return;
  }
  throw new Error(`unknown dead-letters action "${action ?? ""}" (list or replay)`);
}
