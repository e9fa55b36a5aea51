/**
 * Builds the local servers (FerretDB and nats-server, pinned in tools/go.mod)
 * with the machine's Go into .cache/bin — only when they are missing or the
 * pins (or this script's patch) changed, so `npm start` and `npm test` stay
 * fast after the first run.
 *
 * FerretDB is built with three patches, applied to a copy of the pinned module
 * in .cache (the Go module cache itself is never touched); neither changes a
 * result:
 * 1. FerretDB v1.24.2's SQLite backend filters `{_id: x}` on
 *    `_ferretdb_sjson->'$._id'` while the unique _id index it creates is on
 *    `_ferretdb_sjson->"_id"`; SQLite only uses an index for the same
 *    expression, so every lookup by _id scanned the whole table. Measured on
 *    20,000 documents: findOne of a missing _id 184 ms -> 1.1 ms, updateOne by
 *    _id 114 ms -> 2.7 ms. The two expressions select the same JSON value.
 * 2. Its leak tracker (`resource.Track`) adds every iterator to a pprof
 *    profile, which captures a stack trace each time: 10.7 % of the
 *    database's CPU in the end-to-end benchmark's profile
 *    (FERRETDB_CPU_PROFILE). The profile entry is a debugging aid only; the
 *    release build now skips it and keeps the rest (finalizer checks).
 * 3. Its `update` command closes each statement's query (an SQLite
 *    connection from a pool of 100) only when the whole command returns (a
 *    `defer` inside the loop over statements), so one `bulkWrite` of many
 *    updates, or a few at once, held every connection and waited for one
 *    more: the database stopped answering anything (seen at ~100 statements
 *    in flight, goroutine dump: 100 open rows, 44 waiting in DB.conn). Each
 *    statement's query is now closed as soon as its update is done.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { binDir, ferretDbBin, natsServerBin, repoRoot } from "../tools/local-servers.ts";

const toolsDir = join(repoRoot, "tools");
const stampFile = join(binDir, ".stamp");
const patchedSource = join(repoRoot, ".cache", "ferretdb-src");
const patchedModFile = join(repoRoot, ".cache", "ferretdb-build", "go.mod");
const patches = [
  {
    file: "internal/backends/sqlite/metadata/metadata.go",
    before: `IDColumn = DefaultColumn + "->'$._id'"`,
    after: 'IDColumn = DefaultColumn + `->"_id"`',
  },
  {
    file: "internal/handler/msg_update.go",
    before: '\t\tresult, err := common.UpdateDocument(ctx, c, "update", iter, &u)\n',
    after: '\t\tresult, err := common.UpdateDocument(ctx, c, "update", iter, &u)\n\t\tcloser.Close() // patched: free the connection now, not at the end of the command\n',
  },
  {
    file: "internal/util/resource/resource.go",
    before: "\tp.Add(token, 1)\n",
    after: "\tif debugbuild.Enabled {\n\t\tp.Add(token, 1)\n\t}\n",
  },
];

const inputs = [join(toolsDir, "go.mod"), join(toolsDir, "go.sum"), join(toolsDir, "cmd/ferretdb-local/main.go"), import.meta.filename];
const stamp = createHash("sha256")
  .update(inputs.map((file) => readFileSync(file, "utf8")).join("\0"))
  .digest("hex");

const go = (args: string[]) => execFileSync("go", args, { cwd: toolsDir, stdio: ["ignore", "pipe", "inherit"] }).toString();

/** Copies the pinned FerretDB module out of the module cache and applies the patches above. */
function preparePatchedFerretDb(): void {
  const version = /github\.com\/FerretDB\/FerretDB (v\S+)/.exec(readFileSync(join(toolsDir, "go.mod"), "utf8"))?.[1];
  if (!version) throw new Error("tools/go.mod does not pin github.com/FerretDB/FerretDB");
  const { Dir } = JSON.parse(go(["mod", "download", "-json", `github.com/FerretDB/FerretDB@${version}`])) as { Dir: string };
  rmSync(patchedSource, { recursive: true, force: true });
  cpSync(Dir, patchedSource, { recursive: true });
  for (const patch of patches) {
    const file = join(patchedSource, patch.file);
    chmodSync(file, 0o644);
    const source = readFileSync(file, "utf8");
    if (!source.includes(patch.before)) {
      throw new Error(`FerretDB ${version}: ${patch.file} no longer contains ${JSON.stringify(patch.before)}; review the patches in scripts/build-tools.ts`);
    }
    writeFileSync(file, source.replace(patch.before, patch.after));
  }
  mkdirSync(join(patchedModFile, ".."), { recursive: true });
  writeFileSync(patchedModFile, `${readFileSync(join(toolsDir, "go.mod"), "utf8")}\nreplace github.com/FerretDB/FerretDB => ${patchedSource}\n`);
  writeFileSync(patchedModFile.replace(/go\.mod$/, "go.sum"), readFileSync(join(toolsDir, "go.sum")));
}

/** Builds the local servers unless they are present and built from the current pins. */
export function ensureLocalServers(): void {
  const upToDate =
    existsSync(ferretDbBin) && existsSync(natsServerBin) && existsSync(stampFile) && readFileSync(stampFile, "utf8") === stamp;
  if (upToDate) return;
  mkdirSync(binDir, { recursive: true });
  try {
    console.log("building local servers with Go (first run takes a few minutes)...");
    preparePatchedFerretDb();
    go(["build", `-modfile=${patchedModFile}`, "-o", ferretDbBin, "./cmd/ferretdb-local"]);
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
