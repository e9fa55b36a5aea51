/**
 * What tests use to reach real servers: the run's shared NATS and FerretDB,
 * private servers a test may stop, kill, pause and restart, unique names for
 * isolation, and polling with a deadline instead of sleeps.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { afterAll, inject } from "vitest";
import { loadBaseConfig, type BaseConfig } from "../services/shared/config.ts";
import { freePort, PortInUseError, startFerretDb, startNatsCluster, startNatsServer, type LocalServer, type NatsCluster } from "../tools/local-servers.ts";

/** The run's shared servers (started by test/global-setup.ts). */
export const shared = {
  get natsUrl(): string {
    return inject("natsUrl");
  },
  get mongoUri(): string {
    return inject("mongoUri");
  },
};

/** A name no other test uses (databases, workspaces, durable consumers). */
export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString("hex")}`;
}

/** Base config for a service under test: shared servers unless given, a fresh database, ports chosen by the OS. */
export function testBaseConfig(overrides: Partial<BaseConfig> = {}): BaseConfig {
  return Object.freeze({
    ...loadBaseConfig({}),
    natsUrl: shared.natsUrl,
    mongoUri: shared.mongoUri,
    mongoDatabase: uniqueName("test"),
    logLevel: "error" as const,
    ...overrides,
  });
}

const privateServers: LocalServer[] = [];
afterAll(async () => {
  await Promise.all(privateServers.splice(0).map((server) => server.stop()));
});

/**
 * Starts a server on a drawn port, drawing again (twice at most) when the port was taken between the draw
 * and the bind — by another test run on the same machine, which draws from the same ranges.
 */
async function onDrawnPort(start: (port: number) => Promise<LocalServer>): Promise<LocalServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(await freePort());
    } catch (error) {
      const taken = error instanceof PortInUseError || /address already in use/.test(String(error));
      if (!taken || attempt === 3) throw error;
    }
  }
}

/** A nats-server of this test file's own (stopped after the file). */
export async function privateNats(): Promise<LocalServer> {
  const server = await onDrawnPort((port) => startNatsServer({ port, dataDir: mkdtempSync(join(tmpdir(), "ngsreach-nats-")) }));
  privateServers.push(server);
  return server;
}

/** A JetStream cluster of this test file's own, ready (meta leader elected), stopped after the file. */
export async function privateNatsCluster(nodes = 3): Promise<NatsCluster> {
  const cluster = await startNatsCluster({ nodes, dataDir: mkdtempSync(join(tmpdir(), "ngsreach-nats-cluster-")) });
  privateServers.push(...cluster.nodes);
  return cluster;
}

/** A FerretDB of this test file's own (stopped after the file); `documentLocks: false` as in startFerretDb. */
export async function privateFerretDb(options: { documentLocks?: boolean } = {}): Promise<LocalServer> {
  const server = await onDrawnPort((port) => startFerretDb({ port, dataDir: mkdtempSync(join(tmpdir(), "ngsreach-ferret-")), ...options }));
  privateServers.push(server);
  return server;
}

/** Polls `check` until it returns a value other than undefined/false, or fails after the deadline. */
export async function waitFor<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 30_000, intervalMs = 25, what = "condition" } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`);
}

/** A SECRETS_KEY for tests (never used outside them). */
export const testSecretsKey = `test:${Buffer.alloc(32, 7).toString("base64")}`;
