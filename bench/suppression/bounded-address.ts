/**
 * How big a suppression address document gets, and what one more event costs,
 * when a sender floods one address: deliveries every 5 minutes for 100 days
 * (28,800, past the 69 days the horizon keeps and the 10,000-delivery cap),
 * then 1,500 counted soft bounces each after a delivery (past the 1,000 cap).
 * Pure (no database): the fold and the BSON size of the state it stores;
 * event #100 is the baseline of the same run. Bounded by its counts (~10 s).
 *
 *   node bench/suppression/bounded-address.ts
 */
import { BSON } from "mongodb";
import { addFact, emptyFacts, type AddressFacts, type Fact } from "../../services/suppression/address-facts.ts";
import { defaultSoftBouncePolicy as policy } from "../../services/suppression/soft-bounce-policy.ts";
import { machine, table, writeResult } from "../lib/report.ts";

const epoch = Date.UTC(2026, 0, 1);
const minute = 60_000;
const events: Fact[] = [];
for (let i = 0; i < 28_800; i++) events.push({ kind: "delivery", svixId: `d${i}`, atMs: epoch + i * 5 * minute });
const end = epoch + 28_800 * 5 * minute;
for (let i = 0; i < 1_500; i++) {
  events.push({ kind: "delivery", svixId: `x${i}`, atMs: end + i * 2 * minute });
  events.push({ kind: "soft_bounce", bounce: { svixId: `b${i}`, atMs: end + (i * 2 + 1) * minute, subType: "MailboxFull", emailId: `e${i}`, campaignId: "c" } });
}

let facts: AddressFacts = emptyFacts();
const samples: { n: number; us: number; bytes: number }[] = [];
events.forEach((event, index) => {
  const started = performance.now();
  facts = addFact(facts, event, policy);
  const us = (performance.now() - started) * 1000;
  if (index === 99 || index % 100 === 99 || index === events.length - 1) samples.push({ n: index + 1, us, bytes: BSON.calculateObjectSize({ facts }) });
});
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
const around = (from: number, to: number) => samples.filter((s) => s.n >= from && s.n <= to);
const row = (what: string, sample: typeof samples) => ({ what, samples: sample.length, "p50 µs/event": median(sample.map((s) => s.us)), "max bytes": Math.max(...sample.map((s) => s.bytes)) });
const rows = [row("baseline: events #100-#1,000", around(100, 1_000)), row("events #10,000-#28,800 (deliveries)", around(10_000, 28_800)), row("events #28,801-#31,800 (+ soft bounces)", around(28_801, 31_800))];
console.log("suppression, one address flooded (pure fold, BSON size of its facts)");
console.log(table(rows));
console.log(`kept: ${facts.deliveries.length} deliveries, ${facts.softBounces.length} soft bounces; load ${machine().loadAverage1m}`);
writeResult("suppression-bounded-address", { rows, deliveries: facts.deliveries.length, softBounces: facts.softBounces.length, machine: machine() });
