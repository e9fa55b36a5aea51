/**
 * The file of distinct requests a workload's runs take from, one after the
 * other: the gateway takes each request once (a repeat would measure the
 * dedupe path), so each run starts where the last one stopped, and the file is
 * rebuilt when what is left would not last the next run or its timestamps are
 * getting old.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { RequestFileInfo } from "./request-file.ts";
import type { Workload } from "./workloads.ts";

export interface RequestPool {
  workload: Workload;
  /** What the current file holds (after the first `take`). */
  info(): RequestFileInfo | undefined;
  /** A file with at least `needed` unused requests from `start` on (`fromStart`: the first ones, for the baseline). */
  take(needed: number, fromStart?: boolean): Promise<{ file: string; start: number }>;
  /** The last run took `sent` requests. */
  used(sent: number): void;
  remove(): void;
}

export function requestPool(dir: string, workload: Workload, log: (line: string) => void): RequestPool {
  let current: RequestFileInfo | undefined;
  let cursor = 0;
  let generation = 0;
  const remove = () => {
    if (current) rmSync(current.file, { force: true });
    current = undefined;
  };
  const rebuild = async (needed: number) => {
    remove();
    const started = performance.now();
    const count = Math.max(workload.fileRequests, needed);
    current = await workload.write(join(dir, `${workload.name}-${generation}.bin`), count, generation);
    generation++;
    cursor = 0;
    log(
      `${workload.name}: signed ${count.toLocaleString("en-US")} distinct requests, ${current.events.toLocaleString("en-US")} events ` +
        `(body ${current.minBodyBytes}–${current.maxBodyBytes} B, mean ${Math.round(current.meanBodyBytes)} B) in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
  };
  return {
    workload,
    info: () => current,
    async take(needed, fromStart = false) {
      const old = current && workload.maxAgeMs !== undefined && Date.now() - current.createdAtMs > workload.maxAgeMs;
      const short = current && !fromStart && current.count - cursor < needed;
      if (!current || old || short) await rebuild(needed);
      return { file: current!.file, start: fromStart ? 0 : cursor };
    },
    used(sent) {
      cursor += sent;
    },
    remove,
  };
}
