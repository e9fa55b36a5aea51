import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { privateNats, uniqueName, waitFor } from "../../test/harness.ts";
import { startConsumer, deadLetterHeaders, retryDelayMs, type ConsumerSpec, type RunningConsumer } from "./consumer.ts";
import { TimeoutError } from "@nats-io/nats-core";
import { MongoBulkWriteError, MongoNetworkError } from "mongodb";
import { PoisonMessageError, UnavailableError } from "./errors.ts";
import { createLogger } from "./log.ts";
import { MetricsRegistry } from "./metrics.ts";
import { connectNats, DEAD_LETTERS_STREAM, ensureStreams, RESEND_EVENTS_STREAM, type NatsHandles } from "./nats.ts";

const log = createLogger({ test: "consumer" }, "error");
const text = new TextDecoder();
const bytes = (value: string) => new TextEncoder().encode(value);

describe("the shared JetStream consumer loop", () => {
  let nats: NatsHandles;
  const running: RunningConsumer[] = [];

  beforeAll(async () => {
    const server = await privateNats();
    nats = await connectNats(server.url, "consumer-test", log);
    await ensureStreams(nats.jsm, { eventsMaxAgeMs: 3_600_000, duplicateWindowMs: 120_000 });
  });
  afterAll(async () => {
    await Promise.all(running.map((consumer) => consumer.stop()));
    await nats.nc.close();
  });

  const start = async (name: string, workspace: string, handle: (body: string) => Promise<void>, extra: Partial<ConsumerSpec<string>> = {}) => {
    const consumer = await startConsumer(
      { js: nats.js, jsm: nats.jsm, log, metrics: new MetricsRegistry() },
      {
        name,
        stream: RESEND_EVENTS_STREAM,
        filterSubjects: [`resend.events.${workspace}.>`],
        decode: (data) => {
          const body = text.decode(data);
          if (body === "undecodable") throw new Error("bad bytes");
          return body;
        },
        handle,
        ...extra,
      },
    );
    running.push(consumer);
    return consumer;
  };

  it("handles several messages at once, acking each when its own handler is done", async () => {
    const workspace = uniqueName("ws");
    for (let i = 0; i < 20; i++) await nats.js.publish(`resend.events.${workspace}.email.sent`, bytes(`m${i}`), { msgID: `${workspace}:${i}` });
    let inHandler = 0;
    let most = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const name = uniqueName("durable");
    await start(name, workspace, async (body) => {
      inHandler++;
      most = Math.max(most, inHandler);
      if (body !== "m0") await gate; // every message but the first waits until the test opens the gate
      inHandler--;
    });
    // 16 at once (the default): the first finishes and is acked while the other 15 wait; the 17th starts.
    await waitFor(() => most >= 16, { what: "16 handlers running at once" });
    await waitFor(async () => (await nats.jsm.consumers.info(RESEND_EVENTS_STREAM, name)).ack_floor.stream_seq > 0, { what: "the first ack" });
    expect(most).toBe(16);
    release();
    await waitFor(async () => {
      const info = await nats.jsm.consumers.info(RESEND_EVENTS_STREAM, name);
      return info.num_ack_pending === 0 && info.num_pending === 0;
    }, { what: "every message acked" });
  });

  it("keeps a message it is still working on from being redelivered after the ack wait", async () => {
    const workspace = uniqueName("ws");
    await nats.js.publish(`resend.events.${workspace}.email.sent`, bytes("slow"), { msgID: `${workspace}:slow` });
    const deliveries: number[] = [];
    const name = uniqueName("durable");
    // A handler held up three ack waits (a frozen database): without "in progress" reports the server would
    // redeliver the message twice meanwhile.
    await start(
      name,
      workspace,
      async () => {
        deliveries.push(Date.now());
        await new Promise((resolve) => setTimeout(resolve, 4500));
      },
      { ackWaitMs: 1500 },
    );
    await waitFor(async () => (await nats.jsm.consumers.info(RESEND_EVENTS_STREAM, name)).ack_floor.stream_seq > 0, { what: "the ack", timeoutMs: 15_000 });
    const info = await nats.jsm.consumers.info(RESEND_EVENTS_STREAM, name);
    expect(deliveries).toHaveLength(1);
    expect(info.delivered.consumer_seq).toBe(1);
  });

  it("gives up on a handler that never settles (a database call left unanswered) and retries its message, alone or in a batch, without dead-lettering it", async () => {
    const workspace = uniqueName("ws");
    const bodies = ["stuck-alone", "m1", "m2", "m3", "stuck-in-batch", "m5"];
    for (const [i, body] of bodies.entries()) await nats.js.publish(`resend.events.${workspace}.email.sent`, bytes(body), { msgID: `${workspace}:${i}` });
    const attempts = new Map<string, number>();
    const applied: string[] = [];
    const never = new Promise<never>(() => undefined);
    const apply = async (body: string) => {
      attempts.set(body, (attempts.get(body) ?? 0) + 1);
      // Its first attempts hang for good: "stuck-alone" in its batch, then alone after the batch was given up on.
      if (body === "stuck-alone" ? attempts.get(body)! <= 2 : body.startsWith("stuck") && attempts.get(body) === 1) await never;
      applied.push(body);
    };
    const name = uniqueName("durable");
    const consumer = await start(name, workspace, apply, {
      handlerTimeoutMs: 1500,
      maxAttempts: 1,
      // Batches that hold a stuck message hang as a whole; then each of their messages is handled alone.
      handleBatch: async (messages) => {
        if (messages.some((body) => body === "stuck-in-batch" && !attempts.has(body))) {
          attempts.set("stuck-in-batch", 0);
          await never;
        }
        for (const body of messages) await apply(body);
      },
      concurrency: 2,
      batchSize: 4,
    });
    await waitFor(async () => {
      const info = await nats.jsm.consumers.info(RESEND_EVENTS_STREAM, name);
      return info.num_ack_pending === 0 && info.num_pending === 0;
    }, { what: "every message acked", timeoutMs: 20_000 });
    expect([...new Set(applied)].sort()).toEqual([...bodies].sort());
    expect(attempts.get("stuck-alone")).toBeGreaterThanOrEqual(3);
    const dead = await nats.jsm.streams.info(DEAD_LETTERS_STREAM, { subjects_filter: `dead.${name}` });
    expect(dead.state.subjects?.[`dead.${name}`] ?? 0).toBe(0); // a stuck call is an outage, never a bug
    // And its stop is not held up by the handlers still hanging.
    await consumer.stop(2000);
  });

  it("gives the messages that waited for a slot to one handleBatch call, and acks them only after it resolved", async () => {
    const workspace = uniqueName("ws");
    const bodies = Array.from({ length: 30 }, (_, i) => `m${i}`);
    for (const [i, body] of bodies.entries()) await nats.js.publish(`resend.events.${workspace}.email.sent`, bytes(body), { msgID: `${workspace}:${i}` });
    const batches: string[][] = [];
    const alone: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const name = uniqueName("durable");
    await start(name, workspace, async (body) => void alone.push(body), {
      concurrency: 1,
      batchSize: 8,
      handleBatch: async (messages) => {
        batches.push([...messages]);
        await gate;
      },
    });
    await waitFor(() => batches.length === 1, { what: "the first batch" });
    const info = await nats.jsm.consumers.info(RESEND_EVENTS_STREAM, name);
    expect(info.ack_floor.stream_seq).toBe(0); // nothing acked while the batch runs
    release();
    await waitFor(async () => {
      const after = await nats.jsm.consumers.info(RESEND_EVENTS_STREAM, name);
      return after.num_ack_pending === 0 && after.num_pending === 0;
    }, { what: "every message acked" });
    expect([...batches.flat(), ...alone].sort()).toEqual([...bodies].sort()); // each once, in a batch or alone
    expect(Math.max(...batches.map((batch) => batch.length))).toBe(8);
  });

  it("handles each message of a failed batch alone: the poison ones are dead-lettered, the others applied and acked", async () => {
    const workspace = uniqueName("ws");
    const name = uniqueName("durable");
    const bodies = ["a", "b", "invalid", "c", "undecodable", "d"];
    for (const [i, body] of bodies.entries()) await nats.js.publish(`resend.events.${workspace}.email.sent`, bytes(body), { msgID: `${workspace}:${i}` });
    const applied: string[] = [];
    let batchCalls = 0;
    let undecodableInBatch = false; // never decoded into a batch: dead-lettered on its own
    await start(
      name,
      workspace,
      async (body) => {
        if (body === "invalid") throw new PoisonMessageError("missing email_id");
        applied.push(body);
      },
      {
        concurrency: 1,
        handleBatch: async (messages) => {
          batchCalls++;
          if (messages.includes("undecodable")) undecodableInBatch = true;
          if (messages.includes("invalid")) throw new Error("bulk write refused");
          applied.push(...messages);
        },
      },
    );
    await waitFor(async () => {
      const info = await nats.jsm.streams.info(DEAD_LETTERS_STREAM, { subjects_filter: `dead.${name}` });
      const after = await nats.jsm.consumers.info(RESEND_EVENTS_STREAM, name);
      return info.state.subjects?.[`dead.${name}`] === 2 && after.num_ack_pending === 0 && after.num_pending === 0;
    }, { what: "two dead letters and every message settled" });
    expect([...applied].sort()).toEqual(["a", "b", "c", "d"]);
    expect(batchCalls).toBeGreaterThan(0);
    expect(undecodableInBatch).toBe(false);
  });

  it("finishes the messages it pulled when stopped, and gives back at once what had not started by the deadline", async () => {
    const workspace = uniqueName("ws");
    const name = uniqueName("durable");
    for (let i = 0; i < 30; i++) await nats.js.publish(`resend.events.${workspace}.email.sent`, bytes(`m${i}`), { msgID: `${workspace}:${i}` });
    const handled: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const first = await start(name, workspace, async (body) => {
      if (body === "m0") await gate;
      handled.push(body);
    }, { concurrency: 1 });
    await waitFor(async () => (await nats.jsm.consumers.info(RESEND_EVENTS_STREAM, name)).num_ack_pending === 30, { what: "all 30 pulled" });
    // Stopped while m0 holds the only slot: the deadline passes before the other 29 start.
    const stopping = first.stop(300);
    await new Promise((resolve) => setTimeout(resolve, 500));
    release();
    await stopping;
    expect(handled).toEqual(["m0"]);
    // The 29 were nak'ed, not left to the 30 s ack wait: the next instance gets them now.
    const second: string[] = [];
    await start(name, workspace, async (body) => void second.push(body));
    await waitFor(() => second.length === 29, { timeoutMs: 5_000, what: "the 29 given back" });

    // With time enough, a stop finishes everything pulled: nothing is left to come back.
    const workspace2 = uniqueName("ws");
    const name2 = uniqueName("durable");
    for (let i = 0; i < 30; i++) await nats.js.publish(`resend.events.${workspace2}.email.sent`, bytes(`n${i}`), { msgID: `${workspace2}:${i}` });
    const slow: string[] = [];
    const third = await start(name2, workspace2, async (body) => {
      await new Promise((resolve) => setTimeout(resolve, 10));
      slow.push(body);
    }, { concurrency: 1 });
    await waitFor(async () => (await nats.jsm.consumers.info(RESEND_EVENTS_STREAM, name2)).num_ack_pending >= 20, { what: "the messages pulled" });
    await third.stop(10_000);
    expect(slow).toHaveLength(30); // every one handled before stop() resolved
    // Acks are fire-and-forget publishes: the server may count the last ones a moment later.
    const info = await waitFor(async () => {
      const now = await nats.jsm.consumers.info(RESEND_EVENTS_STREAM, name2);
      return now.num_ack_pending === 0 && now;
    }, { timeoutMs: 5_000, what: "the last acks" });
    expect([info.num_pending, info.num_redelivered]).toEqual([0, 0]);
  });

  it("stopped while the server is still sending, leaves no message delivered that it never saw", async () => {
    // Closing a pull's subscription while the server answers it drops what is on the wire: delivered,
    // never handled, back only after the ack wait (nats.js consume() + close() did that at a stop).
    const workspace = uniqueName("ws");
    const name = uniqueName("durable");
    const seen = new Set<string>();
    const consumer = await start(name, workspace, async (body) => void seen.add(body), { ackWaitMs: 60_000 });
    let publishing = true;
    const published = (async () => {
      let i = 0;
      for (; publishing && i < 20_000; i += 20) {
        await Promise.all(Array.from({ length: 20 }, (_, k) => nats.js.publish(`resend.events.${workspace}.email.sent`, bytes(`p${i + k}`))));
      }
      return i;
    })();
    await waitFor(() => seen.size >= 300, { timeoutMs: 20_000, what: "messages flowing" });
    await consumer.stop(10_000);
    publishing = false;
    await published;
    await nats.nc.flush();
    // Acks are fire-and-forget: what the server still counts as delivered after a moment was never seen.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const info = await nats.jsm.consumers.info(RESEND_EVENTS_STREAM, name);
    expect({ unacked: info.num_ack_pending, redelivered: info.num_redelivered }).toEqual({ unacked: 0, redelivered: 0 });
    expect(info.delivered.stream_seq - info.ack_floor.stream_seq).toBe(0);
  });

  it("delivers a published message to a durable consumer and acks it after the handler", async () => {
    const workspace = uniqueName("ws");
    const seen: string[] = [];
    const first = await nats.js.publish(`resend.events.${workspace}.email.sent`, bytes("hello"), { msgID: `${workspace}:1` });
    const again = await nats.js.publish(`resend.events.${workspace}.email.sent`, bytes("hello"), { msgID: `${workspace}:1` });
    expect(first.duplicate).toBe(false);
    expect(again.duplicate).toBe(true);

    const name = uniqueName("durable");
    await start(name, workspace, async (body) => void seen.push(body));
    await waitFor(async () => {
      const info = await nats.jsm.consumers.info(RESEND_EVENTS_STREAM, name);
      return info.ack_floor.stream_seq >= first.seq && info.num_ack_pending === 0 && info.num_pending === 0;
    }, { what: "the message to be acked" });
    expect(seen).toEqual(["hello"]);
  });

  it("retries a transient failure with backoff, past the attempt limit, until the handler succeeds", async () => {
    const workspace = uniqueName("ws");
    const name = uniqueName("durable");
    let attempts = 0;
    // Transient by cause: a connection closed under a bulk write, our own Unavailable, a NATS timeout.
    const transient = [
      new MongoBulkWriteError(new MongoNetworkError("connection 7 to 127.0.0.1:27117 closed"), {} as never),
      new UnavailableError("database unavailable"),
      new Error("outbox publish failed", { cause: new TimeoutError() }),
    ];
    await start(name, workspace, async () => {
      if (attempts < transient.length) throw transient[attempts++]!;
      attempts++;
    }, { maxAttempts: 1 });
    await nats.js.publish(`resend.events.${workspace}.email.delivered`, bytes("x"));
    await waitFor(async () => attempts > transient.length && (await nats.jsm.consumers.info(RESEND_EVENTS_STREAM, name)).num_ack_pending === 0, {
      what: "the message applied after three transient failures",
    });
    const dead = await nats.jsm.streams.info(DEAD_LETTERS_STREAM, { subjects_filter: `dead.${name}` });
    expect(dead.state.subjects?.[`dead.${name}`] ?? 0).toBe(0);
    expect(retryDelayMs(1)).toBe(250);
    expect(retryDelayMs(2)).toBe(500);
    expect(retryDelayMs(50)).toBe(30_000);
  });

  it("dead-letters a message its handler fails on with a bug after maxAttempts, with the error and the count, while the others are applied", async () => {
    const workspace = uniqueName("ws");
    const name = uniqueName("durable");
    const applied: string[] = [];
    let buggyCalls = 0;
    await start(name, workspace, async (body) => {
      if (body === "bug") {
        buggyCalls++;
        const missing = undefined as unknown as { field: string };
        applied.push(missing.field); // a TypeError, as a real bug throws it
      }
      applied.push(body);
    }, { maxAttempts: 3 });
    for (const [i, body] of ["a", "bug", "b", "c"].entries()) {
      await nats.js.publish(`resend.events.${workspace}.email.opened`, bytes(body), { msgID: `${workspace}:${i}` });
    }
    await waitFor(async () => {
      const info = await nats.jsm.streams.info(DEAD_LETTERS_STREAM, { subjects_filter: `dead.${name}` });
      const after = await nats.jsm.consumers.info(RESEND_EVENTS_STREAM, name);
      return info.state.subjects?.[`dead.${name}`] === 1 && after.num_ack_pending === 0 && after.num_pending === 0;
    }, { what: "one dead letter and every message settled" });
    expect([...applied].sort()).toEqual(["a", "b", "c"]);
    expect(buggyCalls).toBe(3);
    const reader = await nats.js.consumers.get(DEAD_LETTERS_STREAM, { filter_subjects: [`dead.${name}`] });
    const letters = [];
    for await (const msg of await reader.fetch({ max_messages: 1, expires: 2000 })) letters.push(msg);
    const [letter] = letters;
    expect(letter!.headers?.get(deadLetterHeaders.consumer)).toBe(name);
    expect(letter!.headers?.get(deadLetterHeaders.attempts)).toBe("3");
    expect(letter!.headers?.get(deadLetterHeaders.reason)).toMatch(/^TypeError: .*field.* \(failed 3 of 3 attempts\)$/);
    expect(text.decode(letter!.data)).toBe("bug");
  });

  it("dead-letters poison messages with the reason and the consumer name, and does not redeliver them", async () => {
    const workspace = uniqueName("ws");
    const name = uniqueName("durable");
    let handled = 0;
    await start(name, workspace, async (body) => {
      handled++;
      if (body === "invalid") throw new PoisonMessageError("missing email_id");
    });
    const poison = await nats.js.publish(`resend.events.${workspace}.email.bounced`, bytes("invalid"));
    const undecodable = await nats.js.publish(`resend.events.${workspace}.email.bounced`, bytes("undecodable"));

    await waitFor(async () => {
      const info = await nats.jsm.streams.info(DEAD_LETTERS_STREAM, { subjects_filter: `dead.${name}` });
      return info.state.subjects?.[`dead.${name}`] === 2;
    }, { what: "two dead letters" });
    const reader = await nats.js.consumers.get(DEAD_LETTERS_STREAM, { filter_subjects: [`dead.${name}`] });
    const letters = [];
    for await (const msg of await reader.fetch({ max_messages: 2, expires: 2000 })) letters.push(msg);
    // Both are handled at once, so either may be dead-lettered first: in the order of their own stream sequences.
    letters.sort((a, b) => Number(a.headers?.get(deadLetterHeaders.sequence)) - Number(b.headers?.get(deadLetterHeaders.sequence)));
    expect(letters.map((msg) => msg.headers?.get(deadLetterHeaders.consumer))).toEqual([name, name]);
    expect(letters.map((msg) => msg.headers?.get(deadLetterHeaders.reason))).toEqual([
      "missing email_id",
      "undecodable message: bad bytes",
    ]);
    expect(letters.map((msg) => msg.headers?.get(deadLetterHeaders.sequence))).toEqual([
      String(poison.seq),
      String(undecodable.seq),
    ]);
    expect(text.decode(letters[0]!.data)).toBe("invalid");
    await waitFor(async () => (await nats.jsm.consumers.info(RESEND_EVENTS_STREAM, name)).num_ack_pending === 0);
    expect(handled).toBe(1);
  });
});
