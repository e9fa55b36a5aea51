/**
 * Reading the environment once, validating it, and returning frozen typed
 * objects. A missing or malformed value stops start-up with a message that
 * names the variable.
 */

/** Thrown at start-up when an environment variable is malformed. */
export class ConfigError extends Error {
  constructor(variable: string, problem: string) {
    super(`${variable}: ${problem}`);
    this.name = "ConfigError";
  }
}

export type Env = Readonly<Record<string, string | undefined>>;

/** Throws a ConfigError naming the variable unless `value` is a URL of one of the protocols; `which`: its place in a list. */
function checkUrl(name: string, value: string, protocols: string[], which?: string): void {
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new ConfigError(name, `not a URL${which ?? ""}: "${value}"`);
  }
  if (!protocols.includes(parsed.protocol)) {
    const expected = which === undefined ? `a ${protocols.join(" or ")} URL` : `${protocols.join(" or ")} URLs`;
    throw new ConfigError(name, `expected ${expected}, got "${parsed.protocol}"${which ?? ""}`);
  }
}

/** Typed readers over one environment; each names its variable in errors. */
export function envReader(env: Env = process.env) {
  const raw = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === "" ? undefined : value;
  };
  return {
    string(name: string, fallback: string): string {
      return raw(name) ?? fallback;
    },
    optionalString(name: string): string | undefined {
      return raw(name);
    },
    integer(name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
      const value = raw(name);
      if (value === undefined) return fallback;
      if (!/^-?\d+$/.test(value)) throw new ConfigError(name, `expected a whole number, got "${value}"`);
      const parsed = Number(value);
      if (parsed < min || parsed > max) throw new ConfigError(name, `expected ${min}..${max}, got ${parsed}`);
      return parsed;
    },
    port(name: string, fallback: number): number {
      return this.integer(name, fallback, 0, 65535);
    },
    url(name: string, fallback: string, protocols: string[]): string {
      const value = raw(name) ?? fallback;
      checkUrl(name, value, protocols);
      return value;
    },
    /** A comma-separated list of URLs (e.g. the servers of a NATS cluster), returned without spaces. */
    urlList(name: string, fallback: string, protocols: string[]): string {
      const entries = (raw(name) ?? fallback).split(",").map((entry) => entry.trim());
      entries.forEach((entry, index) => checkUrl(name, entry, protocols, entries.length > 1 ? ` (entry ${index + 1})` : ""));
      return entries.join(",");
    },
    oneOf<T extends string>(name: string, fallback: T, allowed: readonly T[]): T {
      const value = raw(name) ?? fallback;
      if (!(allowed as readonly string[]).includes(value)) {
        throw new ConfigError(name, `expected one of ${allowed.join(", ")}, got "${value}"`);
      }
      return value as T;
    },
  };
}

/** What every service needs: where NATS and MongoDB are, how to listen, how to log. */
export interface BaseConfig {
  /** One NATS URL, or the comma-separated servers of a cluster. */
  readonly natsUrl: string;
  readonly mongoUri: string;
  readonly mongoDatabase: string;
  readonly listenHost: string;
  readonly internalToken: string | undefined;
  readonly logLevel: "debug" | "info" | "warn" | "error";
  /** JetStream retention of RESEND_EVENTS and DOMAIN_EVENTS. */
  readonly eventsMaxAgeMs: number;
  /** JetStream duplicate window (Nats-Msg-Id dedupe). */
  readonly duplicateWindowMs: number;
  /** Copies of each stream on a JetStream cluster (durable consumers follow their stream). */
  readonly eventsReplicas: number;
  /** A client must send a whole HTTP request within this time (headers within min(this, 10 s)). */
  readonly requestTimeoutMs: number;
  /** Most messages a batching consumer applies in one call (1: one message at a time). */
  readonly consumerBatchSize: number;
}

export const defaultPorts = Object.freeze({
  gateway: 8080,
  deliveryStatus: 8081,
  campaignStats: 8082,
  suppression: 8083,
  localNats: 14222,
  localNatsMonitor: 18222,
  /** Route port of a local cluster's first node (LOCAL_NATS_CLUSTER). */
  localNatsCluster: 16222,
  localMongo: 27117,
});

/** Reads the variables every service shares. */
export function loadBaseConfig(env: Env = process.env): BaseConfig {
  const read = envReader(env);
  const internalToken = read.optionalString("INTERNAL_TOKEN");
  if (internalToken !== undefined && internalToken.length < 16) {
    throw new ConfigError("INTERNAL_TOKEN", "must be at least 16 characters");
  }
  return Object.freeze({
    natsUrl: read.urlList("NATS_URL", `nats://127.0.0.1:${defaultPorts.localNats}`, ["nats:", "tls:"]),
    mongoUri: read.url("MONGODB_URI", `mongodb://127.0.0.1:${defaultPorts.localMongo}/`, ["mongodb:", "mongodb+srv:"]),
    mongoDatabase: read.string("MONGODB_DATABASE", "ngsreach"),
    listenHost: read.string("LISTEN_HOST", "127.0.0.1"),
    internalToken,
    logLevel: read.oneOf("LOG_LEVEL", "info", ["debug", "info", "warn", "error"] as const),
    eventsMaxAgeMs: read.integer("EVENTS_MAX_AGE_DAYS", 7, 1, 3650) * 86_400_000,
    duplicateWindowMs: read.integer("EVENTS_DUPLICATE_WINDOW_SECONDS", 120, 1, 86_400) * 1000,
    eventsReplicas: read.integer("EVENTS_REPLICAS", 1, 1, 5),
    requestTimeoutMs: read.integer("HTTP_REQUEST_TIMEOUT_MS", 30_000, 100, 600_000),
    consumerBatchSize: read.integer("CONSUMER_BATCH_SIZE", 64, 1, 256),
  });
}
