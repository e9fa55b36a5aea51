/**
 * One diagnosis of `ngsreach doctor`: what was looked at, what it found, and
 * what to do about it. "fail" means webhooks or their effects are being lost
 * or held up now (the command then exits 1); "warn" is worth a look but may be
 * fine (no traffic yet, a backlog being worked off).
 */

export type CheckStatus = "ok" | "warn" | "fail";

export interface Check {
  /** Short, stable name: "credentials", "consumer delivery-status". */
  name: string;
  status: CheckStatus;
  /** One line: what was found. */
  summary: string;
  /** More lines of what was found (per provider, per reason, per dead letter). */
  details: string[];
  /** What to do, most likely first; empty when nothing needs doing. */
  fixes: string[];
}

export function check(name: string, status: CheckStatus, summary: string, more: { details?: string[]; fixes?: string[] } = {}): Check {
  return { name, status, summary, details: more.details ?? [], fixes: more.fixes ?? [] };
}

/** The worst of several statuses. */
export function worst(statuses: readonly CheckStatus[]): CheckStatus {
  return statuses.includes("fail") ? "fail" : statuses.includes("warn") ? "warn" : "ok";
}
