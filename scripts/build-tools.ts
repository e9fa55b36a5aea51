/**
 * Builds the local servers (FerretDB and nats-server, pinned in tools/go.mod)
 * with the machine's Go into .cache/bin — only when they are missing or the
 * pins changed, so `npm start` and `npm test` stay fast after the first run.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { binDir, ferretDbBin, natsServerBin, repoRoot } from "../tools/local-servers.ts";

const toolsDir = join(repoRoot, "tools");
const stampFile = join(binDir, ".stamp");
const inputs = ["go.mod", "go.sum", "cmd/ferretdb-local/main.go"];
const stamp = createHash("sha256")
  .update(inputs.map((file) => readFileSync(join(toolsDir, file), "utf8")).join("\0"))
  .digest("hex");

/** Builds the local servers unless they are present and built from the current pins. */
export function ensureLocalServers(): void {
  const upToDate =
    existsSync(ferretDbBin) && existsSync(natsServerBin) && existsSync(stampFile) && readFileSync(stampFile, "utf8") === stamp;

  if (upToDate) return;
  mkdirSync(binDir, { recursive: true });
  const go = (args: string[]) => execFileSync("go", args, { cwd: toolsDir, stdio: "inherit" });
  try {
    console.log("building local servers with Go (first run takes a few minutes)...");
    go(["build", "-o", ferretDbBin, "./cmd/ferretdb-local"]);
    go(["build", "-o", natsServerBin, "github.com/nats-io/nats-server/v2"]);
  } catch (error) {
    throw new Error(`could not build the local servers: is Go (>= 1.24) installed and on PATH? (${String(error)})`);
  }
  writeFileSync(stampFile, stamp);
}

if (import.meta.main) {
  try {
    ensureLocalServers();
  } catch (error) {
    console.error((error as Error).message);
    process.exit(1);
  }
}
