/**
 * CheckSuppressions from memory, always current, on any number of instances (issue 19 target 2).
 *
 * Each instance holds every suppressed key (suppressed-addresses.ts), loaded at start, and follows the
 * service's own events with an ordered consumer over `subscriber.>` and the erasure subjects: a
 * subscriber event names the document it changed (its message id, outbox.ts), and the index reads that
 * document's current suppression back by `_id` — so events may arrive in any order or twice.
 *
 * "Current" is proved per check, never assumed:
 * 1. the outbox marks are read: an address whose change is saved but not yet published (a writer
 *    between its save and its ack, or a publish that failed and waits for the sweep) is read from the
 *    database;
 * 2. then the consumer's pending count is asked of JetStream: every change published before this
 *    point must have been applied here before the index answers (it waits up to `waitMs`).
 * A change with no mark left was published before step 2 asked, so it is applied before the answer.
 * When either step fails (NATS or the database down, too many marks, the index still loading or
 * over its size limit) the check goes to the database, as without the index.
 *
 * Erasures: an ErasureRequested (before any service applies it) moves its addresses to "ask the
 * database" for the life of the process; the erased copy, under its pseudonym, is loaded at the next
 * start. An ErasureApplied by this service whose request was never seen makes its workspace
 * database-only until restart.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { DeliverPolicy, type Consumer, type ConsumerMessages, type JetStreamClient, type JsMsg } from "@nats-io/jetstream";
import { ErasureAppliedSchema, ErasureRequestedSchema } from "../../../gen/ngsreach/events/v1/domain_events_pb.ts";
import type { Logger } from "../../shared/log.ts";
import type { MetricsRegistry } from "../../shared/metrics.ts";
import { DOMAIN_EVENTS_STREAM } from "../../shared/nats.ts";
import { withTimeout } from "../../shared/with-timeout.ts";
import { subscriberKey } from "../address.ts";
import { isPseudonym, type AddressHasher } from "../erasure/address-hash.ts";
import { addressOfMessageId } from "../outbox.ts";
import type { SubscriberRepository } from "../subscriber-repository.ts";
import { SuppressedAddresses, type IndexAnswer } from "./suppressed-addresses.ts";

export interface CheckIndexSettings {
  /** How long a check waits for this instance to apply what was published before it. */
  readonly waitMs: number;
  /** The most suppressed documents held; above it the index turns itself off. */
  readonly maxEntries: number;
}

export interface CheckIndexDeps {
  readonly js: JetStreamClient;
  readonly subscribers: SubscriberRepository;
  readonly hasher?: AddressHasher;
  readonly log: Logger;
  readonly metrics?: MetricsRegistry;
}

/** More pending outbox marks than this and a check does not read them: it goes to the database. */
const maxMarks = 1000;
/** Documents read back per `$in` when applying events. */
const applyBatch = 500;


const workspaceOfSubject = (subject: string): string => subject.split(".")[1] ?? "";

export class CheckIndex {
  readonly #deps: CheckIndexDeps;
  readonly #settings: CheckIndexSettings;
  readonly #addresses = new SuppressedAddresses();
  readonly #seenErasures = new Set<string>();
  #state: "loading" | "ready" | "off" | "stopped" = "loading";
  #consumer?: Consumer;
  #messages?: ConsumerMessages;
  /** Messages received, not yet applied (kept until the start-up load is done). */
  #queue: JsMsg[] = [];
  #receivedSeq = 0;
  #appliedSeq = 0;
  #applying?: Promise<void>;
  #applied: (() => void)[] = [];
  readonly #answers;

  constructor(deps: CheckIndexDeps, settings: CheckIndexSettings) {
    this.#deps = deps;
    this.#settings = settings;
    const metrics = deps.metrics;
    this.#answers = metrics?.counter("ngsreach_suppression_check_answers_total", "CheckSuppressions calls, by what answered them (index, database) and why the database did.", ["by"]);
    metrics?.gauge("ngsreach_suppression_check_index_entries", "Suppressed documents held in this instance's check index.", [], (gauge) => gauge.set(this.#addresses.size));
  }

  /** Follows the events, then loads every suppression; checks go to the database until it is done. */
  async start(): Promise<void> {
    // The consumer's start first: what changes during the load is applied after it, read back from the
    // database. A start sequence, not "new": an ordered consumer recreated before its first message
    // resumes from its start sequence, and from the stream's first message without one.
    const stream = await (await this.#deps.js.streams.get(DOMAIN_EVENTS_STREAM)).info();
    this.#receivedSeq = this.#appliedSeq = stream.state.last_seq;
    this.#consumer = await this.#deps.js.consumers.get(DOMAIN_EVENTS_STREAM, {
      filter_subjects: ["subscriber.>", "erasure.*.requested", "erasure.*.applied"],
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: stream.state.last_seq + 1,
    });
    this.#messages = await this.#consumer.consume({ callback: (msg) => this.#received(msg) });
    void this.#load();
  }

  async stop(): Promise<void> {
    this.#state = "stopped";
    await this.#messages?.close();
    await this.#applying;
  }

  async #load(): Promise<void> {
    try {
      for await (const batch of this.#deps.subscribers.allSuppressed()) {
        for (const { workspaceId, email, suppression } of batch) this.#addresses.set(workspaceId, email, suppression);
        if (this.#overLimit() || this.#state === "stopped") return;
      }
      this.#state = "ready";
      this.#deps.log.info("suppression check index loaded", { suppressed: this.#addresses.size });
      this.#kick();
    } catch (error) {
      // Without the whole set the index cannot answer; the database does, as before the index.
      this.#state = "off";
      this.#deps.log.warn("suppression check index could not load; checks read the database", { error });
    }
  }

  #overLimit(): boolean {
    if (this.#addresses.size <= this.#settings.maxEntries) return false;
    this.#state = "off";
    this.#queue = [];
    this.#deps.log.warn("suppression check index over SUPPRESSION_CHECK_INDEX_MAX; checks read the database", { limit: this.#settings.maxEntries });
    return true;
  }

  #received(msg: JsMsg): void {
    if (this.#state === "off" || this.#state === "stopped") return;
    this.#receivedSeq = msg.seq;
    this.#queue.push(msg);
    this.#kick();
  }

  #kick(): void {
    if (this.#state !== "ready" || this.#applying || this.#queue.length === 0) return;
    this.#applying = this.#applyQueued().finally(() => {
      this.#applying = undefined;
      this.#kick();
    });
  }

  async #applyQueued(): Promise<void> {
    const batch = this.#queue.slice(0, applyBatch);
    try {
      await this.#apply(batch);
    } catch (error) {
      // Kept queued; checks meanwhile cannot prove the index current and read the database.
      this.#deps.log.warn("suppression check index could not apply events; retrying", { error });
      await new Promise((resolve) => setTimeout(resolve, 500));
      return;
    }
    this.#queue.splice(0, batch.length);
    this.#appliedSeq = batch.at(-1)?.seq ?? this.#appliedSeq;
    for (const wake of this.#applied.splice(0)) wake();
    this.#overLimit();
  }

  /** Erasure notes first, then every named document read back (its current state, whatever the order). */
  async #apply(batch: JsMsg[]): Promise<void> {
    const changed = new Map<string, { workspaceId: string; address: string }>();
    for (const msg of batch) {
      const workspaceId = workspaceOfSubject(msg.subject);
      if (msg.subject.startsWith("subscriber.")) {
        const address = addressOfMessageId(workspaceId, msg.headers?.get("Nats-Msg-Id") ?? "");
        if (address) changed.set(subscriberKey(workspaceId, address), { workspaceId, address });
        else this.#addresses.databaseOnly(workspaceId);
      } else if (msg.subject.endsWith(".requested")) {
        const request = fromBinary(ErasureRequestedSchema, msg.data);
        this.#seenErasures.add(request.erasureId);
        this.#addresses.erasing(workspaceId, request.emails);
      } else {
        const applied = fromBinary(ErasureAppliedSchema, msg.data);
        if (applied.service === "suppression" && !this.#seenErasures.has(applied.erasureId)) this.#addresses.databaseOnly(workspaceId);
      }
    }
    if (changed.size === 0) return;
    const current = await this.#deps.subscribers.suppressionsByKey([...changed.keys()]);
    for (const [key, { workspaceId, address }] of changed) this.#addresses.set(workspaceId, address, current.get(key) ?? null);
  }

  /**
   * What the index can say of `addresses` (normalised, distinct), or undefined when it cannot prove
   * itself current: then the caller reads the database.
   */
  async answer(workspaceId: string, addresses: readonly string[]): Promise<IndexAnswer | undefined> {
    if (this.#state !== "ready") return this.#database(this.#state);
    const marks = await this.#deps.subscribers.outboxPending(maxMarks + 1).catch(() => undefined);
    if (!marks) return this.#database("database_error");
    if (marks.length > maxMarks) return this.#database("outbox_backlog");
    const unpublished = new Set<string>();
    for (const mark of marks) if (mark.workspaceId === workspaceId) unpublished.add(mark.email);
    // A pending change of an erased copy cannot be tied to its address without hashing every one: rare.
    if ([...unpublished].some(isPseudonym)) return this.#database("outbox_pending_erased");
    if (!(await this.#caughtUp())) return this.#database("behind_stream");
    const hasher = this.#deps.hasher;
    const indexed = this.#addresses.answer(workspaceId, addresses, hasher ? (address) => hasher.candidatesOf(workspaceId, address) : undefined);
    const fromDatabase = new Set([...indexed.fromDatabase, ...addresses.filter((address) => unpublished.has(address))]);
    for (const address of fromDatabase) indexed.found.delete(address);
    this.#answers?.labels("index").inc();
    return { found: indexed.found, fromDatabase: [...fromDatabase] };
  }

  /** Counts a check the index leaves to the database, by why. */
  #database(why: string): undefined {
    this.#answers?.labels(`database_${why}`).inc();
    return undefined;
  }

  /** True once everything JetStream had delivered or pending for the consumer when asked is applied. */
  async #caughtUp(): Promise<boolean> {
    const deadline = Date.now() + this.#settings.waitMs;
    while (this.#consumer && this.#state === "ready") {
      // Bounded by the deadline: with NATS unreachable a JetStream request waits for its own timeout (5 s).
      const info = await withTimeout(this.#consumer.info(false), deadline - Date.now());
      if (!info) return false;
      // Messages reach the callback before the info reply (one connection, in order).
      const target = this.#receivedSeq;
      if (info.num_pending === 0) {
        while (this.#appliedSeq < target) {
          if (!(await this.#nextApply(deadline))) return false;
        }
        return true;
      }
      if (!(await this.#nextApply(deadline))) return false;
    }
    return false;
  }

  /** Resolves true when a batch was applied, false at the deadline. */
  async #nextApply(deadline: number): Promise<boolean> {
    const left = deadline - Date.now();
    if (left <= 0) return false;
    return await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), Math.min(left, 25));
      this.#applied.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    }).then((applied) => applied || Date.now() < deadline);
  }
}
