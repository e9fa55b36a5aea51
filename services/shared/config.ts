/**
 * Reading the environment once, validating it, and returning frozen typed
 * objects. A missing or malformed value stops start-up with a message that
 * names the variable.
 */
import { loadTracingConfig, type TracingConfig } from "./tracing/config.ts";

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
    /** A decimal number ("30", "0.05"): durations in minutes that tests shorten to seconds. */
    number(name: string, fallback: number, min: number, max: number): number {
      const value = raw(name);
      if (value === undefined) return fallback;
      if (!/^\d+(\.\d+)?$/.test(value)) throw new ConfigError(name, `expected a number such as 30 or 0.5, got "${value}"`);
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
  /** INTERNAL_TOKEN as given, already validated: one token, or named ones (parseInternalTokens). */
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
  /** Failures other than transient ones (a bug, bad input) after which a message is dead-lettered. */
  readonly consumerMaxAttempts: number;
  /** A consumer's handler still running after this long is given up on and its messages retried (a stuck database call). */
  readonly consumerHandlerTimeoutMs: number;
  /** Key of the list RPCs' page tokens (the same on every instance); unset: a development key. */
  readonly pageTokenKey: string | undefined;
  /** After SIGTERM, the time to answer in-flight requests, finish pulled messages and close; then exit by force. */
  readonly shutdownDrainMs: number;
  /** Start-up (connections, streams, indexes, consumers, the server) must end within this, else it fails naming its step. */
  readonly startupTimeoutMs: number;
  /** OpenTelemetry tracing (OTEL_* variables); absent or without an endpoint: off. */
  readonly tracing?: TracingConfig;
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

/** One accepted bearer token and the name of the caller it identifies (recorded in audit entries). */
export interface NamedToken {
  readonly name: string;
  readonly token: string;
}

/** The caller's name when INTERNAL_TOKEN is unset (auth off); never a token's name. */
export const localCaller = "local";

/**
 * INTERNAL_TOKEN: unset (no auth: []), one token (named "internal"), or `name:token,name:token` with one
 * token per calling service, so one can be revoked alone. Names are [a-z0-9_-]{1,32}, tokens at least 16
 * printable characters without spaces; no name or token twice. Errors name the variable, never a token.
 */
export function parseInternalTokens(value: string | undefined, variable = "INTERNAL_TOKEN"): readonly NamedToken[] {
  if (value === undefined || value.trim() === "") return [];
  if (!value.includes(":")) {
    if (value.length < 16) throw new ConfigError(variable, "must be at least 16 characters");
    return Object.freeze([Object.freeze({ name: "internal", token: value })]);
  }
  const tokens: NamedToken[] = [];
  for (const [index, entry] of value.split(",").entries()) {
    const colon = entry.indexOf(":");
    const name = entry.slice(0, colon).trim();
    const token = entry.slice(colon + 1).trim();
    if (colon < 0 || !/^[a-z0-9_-]{1,32}$/.test(name)) {
      throw new ConfigError(variable, `entry ${index + 1} must be name:token (a name of [a-z0-9_-], 1 to 32 characters)`);
    }
    if (name === localCaller) throw new ConfigError(variable, `the name "${localCaller}" is reserved (the caller when auth is off)`);
    if (token.length < 16) throw new ConfigError(variable, `the token named "${name}" must be at least 16 characters`);
    if (!/^[\x21-\x7e]+$/.test(token)) throw new ConfigError(variable, `the token named "${name}" must be printable ASCII without spaces`);
    const twin = tokens.find((other) => other.name === name || other.token === token);
    if (twin?.name === name) throw new ConfigError(variable, `the name "${name}" appears twice`);
    if (twin) throw new ConfigError(variable, `the tokens named "${twin.name}" and "${name}" are the same`);
    tokens.push(Object.freeze({ name, token }));
  }
  return Object.freeze(tokens);
}

/** Reads the variables every service shares. */
export function loadBaseConfig(env: Env = process.env): BaseConfig {
  const read = envReader(env);
  const internalToken = read.optionalString("INTERNAL_TOKEN");
  parseInternalTokens(internalToken); // validated here, so a bad value stops start-up
  const pageTokenKey = read.optionalString("PAGE_TOKEN_KEY");
  if (pageTokenKey !== undefined && pageTokenKey.length < 32) throw new ConfigError("PAGE_TOKEN_KEY", "must be at least 32 characters");
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
    consumerMaxAttempts: read.integer("CONSUMER_MAX_ATTEMPTS", 10, 1, 1000),
    consumerHandlerTimeoutMs: read.integer("CONSUMER_HANDLER_TIMEOUT_SECONDS", 60, 5, 3600) * 1000,
    pageTokenKey,
    shutdownDrainMs: read.integer("SHUTDOWN_DRAIN_SECONDS", 15, 5, 600) * 1000,
    startupTimeoutMs: read.integer("STARTUP_TIMEOUT_SECONDS", 120, 5, 3600) * 1000,
    tracing: loadTracingConfig(env),
  });
}
