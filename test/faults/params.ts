/**
 * Short (CI, default) and long (`FAULTS_LONG=1`) parameters of the fault
 * scenarios: the long ones are the numbers (30 s outages, 10 minutes
 * of load), the short ones keep each file well under a minute on 2 cores.
 */
export const long = process.env.FAULTS_LONG === "1";

/** Picks the short or the long value. */
export const pick = <T>(short: T, longValue: T): T => (long ? longValue : short);

/** How long a dependency stays down in outage scenarios (3 and 6). */
export const outageMs = pick(3_000, 30_000);

/**
 * Vitest timeout of one scenario: generous, because on a 2-core machine shared with other suites the
 * same scenario takes 40 s or 120 s; the timeout catches a hang, the verdict catches a defect.
 */
export const scenarioTimeoutMs = pick(240_000, 3_600_000);
