/**
 * One delivery-status "instance" of the two-process race test
 * (services/delivery-status/use-cases/retired-facts-instances.test.ts): its own
 * connection and its own in-process send locks, like a second replica. Applies
 * opens 0..count-1 of one send, every one of them, in its own shuffled order
 * and in batches of 1–8 (some opens twice), after "go" on stdin; prints
 * "ready", then one line of JSON: how many facts its applyEvents calls added.
 *
 *   node test/support/delivery-racer.ts <mongodb-uri> <database> <workspace> <count> <seed>
 */
import { createInterface } from "node:readline";
import { MongoClient } from "mongodb";
import { sampleEmailEvent } from "../../cli/resend-samples.ts";
import { toIncomingEvent } from "../../services/delivery-status/consumer.ts";
import { SendsRepository } from "../../services/delivery-status/sends-repository.ts";
import { applyEvents } from "../../services/delivery-status/use-cases/apply-event.ts";
import { parseResendEvent } from "../../services/shared/resend-events.ts";
import { seededRandom, shuffle } from "../seeded-random.ts";

const [uri, database, workspaceId, count, seed] = process.argv.slice(2);
const client = await new MongoClient(uri!, { retryWrites: false }).connect();
const repo = new SendsRepository(client.db(database));
const t0 = Date.parse("2026-11-20T10:00:00.000Z");
const open = (i: number) => {
  const body = sampleEmailEvent("email.opened", { emailId: "raced", createdAt: new Date(t0 + i * 1000), to: ["ann@example.com"] });
  return toIncomingEvent(parseResendEvent({ workspaceId: workspaceId!, svixId: `svix_open_${i}`, receivedAtMs: t0, rawBody: new TextEncoder().encode(JSON.stringify(body)) }))!;
};
const random = seededRandom(Number(seed));
const order = shuffle(Array.from({ length: Number(count) }, (_, i) => i), random);
await client.db(database).command({ ping: 1 });
console.log("ready");
await new Promise((resolve) => createInterface({ input: process.stdin }).once("line", resolve));

let added = 0;
for (let i = 0; i < order.length; ) {
  const size = 1 + Math.floor(random() * 8);
  const batch = order.slice(i, i + size);
  if (random() < 0.2) batch.push(order[Math.floor(random() * (i + 1))]!); // a redelivery of one seen before
  added += await applyEvents({ repo, notify: () => {}, now: () => Date.now() }, batch.map(open));
  i += size;
}
console.log(JSON.stringify({ added }));
await client.close();
