/** The reconciliation variables (issue 16), read once and validated; errors name the variable. */
import { envReader, type Env } from "../../shared/config.ts";

/** RESEND_API_BASE_URL and RESEND_API_RATE. */
export interface ResendApiSettings {
  /** Without a trailing slash. */
  readonly baseUrl: string;
  /** Requests per second per API key. */
  readonly requestsPerSecond: number;
}

export function loadResendApiSettings(env: Env = process.env): ResendApiSettings {
  const read = envReader(env);
  return Object.freeze({
    baseUrl: read.url("RESEND_API_BASE_URL", "https://api.resend.com", ["https:", "http:"]).replace(/\/+$/, ""),
    // Resend's default team limit is 2 requests/s; a team with a raised limit sets it higher.
    requestsPerSecond: read.integer("RESEND_API_RATE", 2, 1, 1000),
  });
}

export interface ReconcileSettings {
  readonly api: ResendApiSettings;
  /** Sends registered longer ago than this without a final status are swept (RECONCILE_AFTER_MINUTES, default 120). */
  readonly afterMs: number;
  /** How often each instance looks for sends to sweep (RECONCILE_SWEEP_SECONDS, default 300). */
  readonly sweepEveryMs: number;
  /** How long a run stays with the instance working on it without news from it (RECONCILE_LEASE_SECONDS, default 60). */
  readonly leaseMs: number;
  /** How often each instance looks for runs to work on or resume (RECONCILE_POLL_SECONDS, default 5). */
  readonly pollEveryMs: number;
}

export function loadReconcileSettings(env: Env = process.env): ReconcileSettings {
  const read = envReader(env);
  return Object.freeze({
    api: loadResendApiSettings(env),
    afterMs: read.number("RECONCILE_AFTER_MINUTES", 120, 0.01, 525_600) * 60_000,
    sweepEveryMs: read.number("RECONCILE_SWEEP_SECONDS", 300, 0.1, 86_400) * 1000,
    leaseMs: read.number("RECONCILE_LEASE_SECONDS", 60, 0.5, 3600) * 1000,
    pollEveryMs: read.number("RECONCILE_POLL_SECONDS", 5, 0.05, 3600) * 1000,
  });
}
