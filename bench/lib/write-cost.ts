/**
 * Cost of one write of a growing document, sampled early (the baseline, same run) and at the end: what the
 * bounded-document benchmarks report (bench/delivery-status/bounded-send.ts, bench/campaign-stats/bounded-send.ts).
 */

/** One measured event: its number, time, bytes written for it and database commands it took. */
export interface Write {
  n: number;
  ms: number;
  bytes: number;
  commands: number;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

function row(what: string, sample: Write[]) {
  return {
    what,
    events: sample.length,
    "p50 ms": median(sample.map((write) => write.ms)),
    "max ms": Math.max(...sample.map((write) => write.ms)),
    "p50 bytes/event": median(sample.map((write) => write.bytes)),
    "max bytes/event": Math.max(...sample.map((write) => write.bytes)),
    "commands/event": sample.reduce((sum, write) => sum + write.commands, 0) / sample.length,
  };
}

/** Events #161-#200 against the last 40 of `applied`, and their ratios. */
export function costAtTheEnd(writes: readonly Write[], applied: number) {
  const window = (from: number, to: number) => writes.filter((write) => write.n >= from && write.n <= to);
  const baseline = row("baseline: opens #161-#200", window(161, 200));
  const last = row(`opens #${applied - 39}-#${applied}`, window(applied - 39, applied));
  return {
    rows: [baseline, last],
    ratio: { ms: last["p50 ms"] / baseline["p50 ms"], bytes: last["p50 bytes/event"] / baseline["p50 bytes/event"] },
  };
}
