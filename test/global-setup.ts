/**
 * Starts one nats-server (JetStream) and one FerretDB for the whole run, on
 * free ports with temporary data directories, and stops them afterwards.
 * NATS_URL / MONGODB_URI make the run use existing servers instead.
 * Tests that need servers of their own (faults, isolated streams) start
 * private ones with test/harness.ts.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { freePort, startFerretDb, startNatsServer, type LocalServer } from "../tools/local-servers.ts";

declare module "vitest" {
  export interface ProvidedContext {
    natsUrl: string;
    mongoUri: string;
  }
}

export default async function setup(project: TestProject) {
  const dir = mkdtempSync(join(tmpdir(), "ngsreach-test-"));
  const started: LocalServer[] = [];
  let natsUrl = process.env.NATS_URL;
  let mongoUri = process.env.MONGODB_URI;
  if (!natsUrl) {
    const nats = await startNatsServer({ port: await freePort(), dataDir: join(dir, "nats") });
    started.push(nats);
    natsUrl = nats.url;
  }
  if (!mongoUri) {
    const ferret = await startFerretDb({ port: await freePort(), dataDir: join(dir, "ferretdb") });
    started.push(ferret);
    mongoUri = ferret.url;
  }
  project.provide("natsUrl", natsUrl);
  project.provide("mongoUri", mongoUri);
  return async () => {
    await Promise.all(started.map((server) => server.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
}
