/**
 * Warnings a client can cause once per request (a body read it aborts, a 503
 * while a dependency is down) written at most once per key per interval: a
 * flood then costs one log line per interval, not one per request. The next
 * line written for a key says how many were left out before it.
 */
import type { LogFields, Logger } from "../../shared/log.ts";

/** Keys come from a fixed set (outcomes), so the table stays small. */
export function throttledLog(log: Logger, intervalMs: number, now: () => number = Date.now) {
  const last = new Map<string, { at: number; suppressed: number }>();
  return (key: string, msg: string, fields: LogFields): void => {
    const at = now();
    const entry = last.get(key);
    if (entry && at - entry.at < intervalMs) {
      entry.suppressed++;
      return;
    }
    log.warn(msg, entry?.suppressed ? { ...fields, suppressedSinceLast: entry.suppressed } : fields);
    last.set(key, { at, suppressed: 0 });
  };
}
