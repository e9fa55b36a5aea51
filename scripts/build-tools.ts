/**
 * Builds the local servers (FerretDB and nats-server, pinned in tools/go.mod)
 * with the machine's Go into .cache/bin — only when they are missing or the
 * pins (or this script's patches, or the files they add) changed, so
 * `npm start` and `npm test` stay fast after the first run.
 *
 * FerretDB is built with ten patches, applied to a copy of the pinned module
 * in .cache (the Go module cache itself is never touched); patches 1-3 and
 * 5-10 change no result, patch 4 makes concurrent writes end as on MongoDB:
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
 * 4. Document locks (tools/_ferretdb/internal/handler/document_locks.go).
 *    FerretDB runs each update, findAndModify and delete statement as read,
 *    change in Go, write back, with nothing between read and write, so
 *    concurrent writers of one document lose updates: 50 concurrent `$inc`
 *    from two processes ended at 7-41, and in a race of 8 version-guarded
 *    `updateOne`s over 100 versions 7-29 versions had two winners. On MongoDB
 *    each statement is atomic per document, which the services' guards rely
 *    on. Each statement now holds a lock from before its read until its write
 *    committed: its collection's lock shared plus its _id's lock when its
 *    filter pins one string or ObjectID _id, else its collection's lock
 *    exclusively; inserts take none (a duplicate _id still fails in SQL).
 *    Locks are per statement, never two _ids at once, never waited for while
 *    holding a connection. Measured (bench/ferretdb/document-locks.ts, 16
 *    writers, on vs off in one run, load average 5-12): on 16 documents
 *    0.80-1.04 of off, within noise (two servers both off differed by
 *    13-17 %); on one document 380-900 updates/s, all kept (off runs 2-3
 *    times as many and keeps 27-39 % of them); by a filter without _id (the
 *    collection's lock) 0.72-0.94 of off. ferretdb-local's
 *    `-document-locks=false` turns them off, only so tests can show their
 *    race checks catch lost updates.
 * 5. Its SQLite backend fetches by _id in SQL only a filter that is exactly
 *    `{_id: x}`; `{_id: x, version: n}` (every guarded write) decoded every
 *    document of the collection: 200 guarded updateOnes among 100,000
 *    documents took 252 s (~1,000 times the same among 10). Any filter with
 *    one top-level _id equal (or `$eq`) to a string or ObjectID now fetches
 *    that document by the _id index, and `explain` reports the pushdown; the
 *    handlers re-apply the whole filter to what a query returns, as the
 *    backend contract allows (find, count, distinct, aggregate, getMore,
 *    update, findAndModify, delete all do). Now 0.3-0.6 s against 0.2-0.3 s,
 *    and a guarded updateOne costs what one by `{_id}` does.
 *    (internal/types/filter_id.go decides which filters pin one _id, for this
 *    patch and for the locks of patch 4.)
 * 6. Nor did the backend fetch `{_id: {$in: [...]}}` by _id: a read of many
 *    documents by _id decoded the whole collection. A filter whose one
 *    top-level _id is a lone `$in` of at most 1,000 strings and ObjectIDs
 *    (types.FilterIDIn, whatever else the filter holds) is now fetched as
 *    `WHERE <_id> IN (?, ...)`, each _id marshalled and compared as in patch
 *    5, so SQLite searches the _id index, and `explain` reports the pushdown;
 *    `$in: []` is `WHERE 0`: nothing, as on MongoDB. Other filters and longer
 *    lists are read as before; the handlers still re-apply the whole filter.
 *    An `$in` pins no _id (FilterID stays false for it), so a write with one
 *    keeps taking its collection's lock (patch 4). Measured among 100,000
 *    documents, load average 0.4-1.6: one `$in` find of 64 ids 1.7-2.0 s ->
 *    1.9-3.9 ms, where 64 findOne round trips take 44-69 ms; 50 finds of 64
 *    ids (10 of them present) 87-125 ms, against 71-110 ms among 10
 *    documents (unpatched one such find took 1.8 s).
 * 7. Its PostgreSQL backend (what bench/e2e compares against SQLite) pushed
 *    `{_id: x}` down as `_jsonb->$1 @> $2`: key a parameter, operator
 *    containment, neither what a btree index serves, while the unique _id
 *    index it creates is on `((_jsonb->'_id'))`; so every findOne and
 *    updateOne by _id was a Seq Scan of the table. A filter that pins one _id
 *    (types.FilterID, as in patch 5) is now queried as
 *    `_jsonb->'_id' = $n` (metadata.IDColumn, the index's expression), and
 *    one whose _id is a lone `$in` (types.FilterIDIn, at most 1,000) as
 *    `_jsonb->'_id' IN ($n, ...)` (`$in: []` is `FALSE`), each _id
 *    marshalled as DeleteAll marshals the _ids it deletes; the rest of the
 *    filter is pushed down as before, AND-ed, and the handler re-applies the
 *    whole filter. Done in prepareWhereClause, which Query and Explain share,
 *    so `explain` shows the Index Scan (a Bitmap Index Scan for `$in`).
 *    Measured (scripts/ferretdb-patches.test.ts, load average 1.4-2.0): 100
 *    guarded updateOne({_id, v}) among 50,000 documents 3,239 ms -> 145-163
 *    ms, against 142-165 ms among 10 documents.
 * 8. Decoding stored documents (its sjson package, both backends) was ~70 % of
 *    its CPU in a profile of CheckSuppressions' `$in` reads: every value, even
 *    a string, went through a fresh json.Decoder (a buffer, a copy, two
 *    scans), and every document's schema — as long as its data — was decoded
 *    again each time. Each value is now one json.Unmarshal of its bytes (a
 *    string without escapes taken as it is; structs still decoded strictly)
 *    and each distinct schema is decoded once and remembered by its bytes (at
 *    most 8 MiB of them) (tools/_ferretdb/internal/handler/sjson/
 *    whole_decoder.go). Only the wording of errors for malformed stored data
 *    differs. Measured: see the README's performance section.
 * 9. Its SQLite backend ran no other filter in SQL, so every find, count,
 *    update or delete by fields (ListSends' {workspaceId, campaignId, ...},
 *    the outboxes' {pending: true}) decoded the whole collection in Go: a
 *    ListSends page cost ~0.07 ms per stored send. A filter's top-level
 *    equalities to a string or a boolean (at most 3) now narrow the query in
 *    SQL on `_ferretdb_sjson->"field"`, the expression FerretDB builds its
 *    indexes on, so SQLite searches the index whose leading fields they name.
 *    As {f: v} also matches an array holding v, each field is v or any array
 *    (JSON text from "[" up to "\"), written as an OR of every choice per field
 *    (SQLite searches each branch by the index; an AND of per-field ORs it can
 *    search by one field only). A superset: the handler re-applies the whole
 *    filter (tools/_ferretdb/internal/backends/sqlite/filter_equal.go).
 *    Measured: a sorted page of 101 of a 20,000-document campaign, 1.16 s
 *    among 100,000 documents -> 0.40 s, the same among 30,000 and 300,000
 *    (what is left is decoding the campaign's documents).
 * 10. The handler sorted every match in Go before taking a find's page. A
 *    find sorted on one field with a limit now passes the backend a top-N
 *    hint (backends.TopN: the field, the direction, limit + skip), only with
 *    its whole filter; the SQLite backend uses it when the filter is
 *    equalities to strings and booleans and $eq/$gt/$gte/$lt/$lte to
 *    strings: the first N, by SQL's ORDER BY ... LIMIT on the field's index,
 *    of the candidates on which SQL decides the filter and orders the field
 *    as the handler would (types from the sjson schema; strings whose JSON
 *    text orders as they do), plus every other candidate whole; the handler
 *    still filters, sorts and limits (filter_top_n.go). Measured: ListSends'
 *    page of a 20,000-send campaign 1.1-1.2 s -> 0.45-0.59 s (the other
 *    candidates are told apart by SQLite parsing each one's JSON).
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { binDir, ferretDbBin, grpcurlBin, natsServerBin, repoRoot } from "../tools/local-servers.ts";

const toolsDir = join(repoRoot, "tools");
const stampFile = join(binDir, ".stamp");
const patchedSource = join(repoRoot, ".cache", "ferretdb-src");
const patchedModFile = join(repoRoot, ".cache", "ferretdb-build", "go.mod");
const addedDir = join(toolsDir, "_ferretdb");

/** A string replacement in one file of FerretDB's source, or a whole file added from tools/_ferretdb. */
type Patch = { file: string; before: string; after: string; occurrences?: number } | { add: string };

const patches: Patch[] = [
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
  // 4. document locks
  { add: "internal/types/filter_id.go" },
  { add: "internal/handler/document_locks.go" },
  {
    file: "internal/handler/msg_update.go",
    before:
      "\t\tres, err := c.Query(ctx, &qp)\n\t\tif err != nil {\n\t\t\treturn 0, 0, nil, lazyerrors.Error(err)\n\t\t}\n\n" +
      "\t\tcloser := iterator.NewMultiCloser()\n\t\tdefer closer.Close()\n",
    after:
      "\t\t// patched: the statement's document locks, taken before its read, released with its query after its write\n" +
      "\t\tcloser := iterator.NewMultiCloser(lockDocuments(params.DB, params.Collection, u.Filter))\n\t\tdefer closer.Close()\n\n" +
      "\t\tres, err := c.Query(ctx, &qp)\n\t\tif err != nil {\n\t\t\treturn 0, 0, nil, lazyerrors.Error(err)\n\t\t}\n",
  },
  {
    file: "internal/handler/msg_findandmodify.go",
    before: "\tcloser := iterator.NewMultiCloser(iterator.CloserFunc(cancel))\n\tdefer closer.Close()\n",
    after:
      "\tcloser := iterator.NewMultiCloser(iterator.CloserFunc(cancel))\n\tdefer closer.Close()\n\n" +
      "\t// patched: the document locks, taken before the read, released when the command returns\n" +
      "\tcloser.Add(lockDocuments(params.DB, params.Collection, params.Query))\n",
  },
  {
    file: "internal/handler/msg_delete.go",
    before: "d, err = h.execDelete(connCtx, c, &p)",
    after: "d, err = h.execDeleteLocked(connCtx, params.DB, params.Collection, c, &p) // patched: document locks",
  },
  // 5. _id pushdown of any filter that pins one _id (its Query and Explain hold the same code)
  {
    file: "internal/backends/sqlite/collection.go",
    before: '\tif params.Filter.Len() == 1 {\n\t\tv, _ := params.Filter.Get("_id")\n',
    after: "\tif v, ok := types.FilterID(params.Filter); ok { // patched: also when the filter holds more than _id\n",
    occurrences: 2,
  },
  // 6. _id $in pushdown (after the single-_id branch of patch 5, which it leaves as it is)
  { add: "internal/backends/sqlite/filter_id_in.go" },
  {
    file: "internal/backends/sqlite/collection.go",
    before: "\t\t}\n\t}\n\n\tq += whereClause\n",
    after:
      "\t\t}\n\t} else if where, ids, ok := prepareIDInWhereClause(params.Filter); ok { // patched: _id $in by the _id index\n" +
      "\t\twhereClause, args = where, ids\n\t}\n\n\tq += whereClause\n",
  },
  {
    file: "internal/backends/sqlite/collection.go",
    before: "\t\t}\n\t}\n\n\torderByClause := prepareOrderByClause(params.Sort)\n",
    after:
      "\t\t}\n\t} else if where, ids, ok := prepareIDInWhereClause(params.Filter); ok { // patched: _id $in by the _id index\n" +
      "\t\tfilterPushdown = true\n\t\twhereClause, args = where, ids\n\t}\n\n\torderByClause := prepareOrderByClause(params.Sort)\n",
  },
  // 7. PostgreSQL backend: _id equality and _id $in by the _id index (its Query and Explain both build their WHERE here)
  { add: "internal/backends/postgresql/filter_id.go" },
  {
    file: "internal/backends/postgresql/query.go",
    before: "\tvar filters []string\n\tvar args []any\n\n\titer := sqlFilters.Iterator()\n",
    after:
      "\tvar filters []string\n\tvar args []any\n\n" +
      "\t// patched: a filter's pinned _id (or _id $in) first, on the _id index's expression; its _id is then not pushed down again\n" +
      "\tidCondition, idArgs, idPushdown := prepareIDCondition(p, sqlFilters)\n" +
      "\tif idPushdown {\n\t\tfilters = append(filters, idCondition)\n\t\targs = append(args, idArgs...)\n\t}\n\n" +
      "\titer := sqlFilters.Iterator()\n",
  },
  {
    file: "internal/backends/postgresql/query.go",
    before: '\t\tif strings.HasPrefix(rootKey, "$") {\n\t\t\tcontinue\n\t\t}\n',
    after: '\t\tif strings.HasPrefix(rootKey, "$") || (idPushdown && rootKey == "_id") { // patched: _id done above\n\t\t\tcontinue\n\t\t}\n',
  },
  // 8. sjson decoding: one json.Unmarshal per value, each distinct schema decoded once (whole_decoder.go)
  { add: "internal/handler/sjson/whole_decoder.go" },
  {
    file: "internal/handler/sjson/sjson.go",
    before:
      "\tvar sch schema\n\tr = bytes.NewReader(jsch)\n\tdec = json.NewDecoder(r)\n\tdec.DisallowUnknownFields()\n\n" +
      "\tif err := dec.Decode(&sch); err != nil {\n\t\treturn nil, lazyerrors.Error(err)\n\t}\n\n" +
      "\tif err := checkConsumed(dec, r); err != nil {\n\t\treturn nil, lazyerrors.Error(err)\n\t}\n",
    after: "\tsch, err := decodeSchema(jsch) // patched: each distinct schema decoded once\n\tif err != nil {\n\t\treturn nil, lazyerrors.Error(err)\n\t}\n",
  },
  {
    file: "internal/handler/sjson/sjson.go",
    before: "func checkConsumed(dec *json.Decoder, r *bytes.Reader) error {\n\tif dr := dec.Buffered().(*bytes.Reader); dr.Len() != 0 {\n\t\tb, _ := io.ReadAll(dr)\n\n\t\tif l := len(b); l != 0 {\n\t\t\treturn lazyerrors.Errorf(\"%d bytes remains in the decoder: %s\", l, b)\n\t\t}\n\t}\n",
    after: "func checkConsumed(_ *wholeDecoder, r *bytes.Reader) error { // patched: the decoder reads its reader whole\n",
  },
  ...["array", "binary", "bool", "datetime", "document", "double", "int32", "int64", "object_id", "regex", "sjson", "string", "timestamp"].map(
    (name): Patch => ({ file: `internal/handler/sjson/${name}.go`, before: "json.NewDecoder(r)", after: "newDecoder(r) /* patched */" }),
  ),
  // 9. top-level string and boolean equalities by the indexes on those fields (after patch 6's branch)
  { add: "internal/backends/sqlite/filter_equal.go" },
  {
    file: "internal/backends/sqlite/collection.go",
    before: "\t\twhereClause, args = where, ids\n\t}\n\n\tq += whereClause\n",
    after:
      "\t\twhereClause, args = where, ids\n" +
      "\t} else if where, values, ok := prepareEqualWhereClause(params.Filter); ok { // patched: equalities by the fields' indexes\n" +
      "\t\twhereClause, args = where, values\n\t}\n\n\tq += whereClause\n",
  },
  {
    file: "internal/backends/sqlite/collection.go",
    before: "\t\twhereClause, args = where, ids\n\t}\n\n\torderByClause := prepareOrderByClause(params.Sort)\n",
    after:
      "\t\twhereClause, args = where, ids\n" +
      "\t} else if where, values, ok := prepareEqualWhereClause(params.Filter); ok { // patched: equalities by the fields' indexes\n" +
      "\t\tfilterPushdown = true\n\t\twhereClause, args = where, values\n\t}\n\n\torderByClause := prepareOrderByClause(params.Sort)\n",
  },
  // 10. a find's sort on one field with a limit: the first N by the field's index when the filter is exact in SQL
  { add: "internal/backends/top_n.go" },
  { add: "internal/backends/sqlite/filter_top_n.go" },
  {
    file: "internal/backends/collection.go",
    before: "\tOnlyRecordIDs bool\n\tComment       string\n}\n",
    after: "\tOnlyRecordIDs bool\n\tComment       string\n\n\tTopN TopN // patched: top_n.go\n}\n",
  },
  {
    file: "internal/backends/collection.go",
    before: "type ExplainParams struct {\n\tFilter *types.Document\n\tSort   *types.Document\n\tLimit  int64\n}\n",
    after: "type ExplainParams struct {\n\tFilter *types.Document\n\tSort   *types.Document\n\tLimit  int64\n\n\tTopN TopN // patched: top_n.go\n}\n",
  },
  ...["msg_find.go", "msg_explain.go"].map(
    (name): Patch => ({
      file: `internal/handler/${name}`,
      before: "\t\tqp.Limit = params.Limit\n\t}\n",
      after:
        "\t\tqp.Limit = params.Limit\n\t}\n\n" +
        "\t// patched: a sort on one field with a limit, for the backend's top-N read (only with the whole filter)\n" +
        "\tif !h.DisablePushdown && qp.Limit == 0 && qp.Filter.Len() == params.Filter.Len() {\n" +
        "\t\tqp.TopN = backends.TopNOf(params.Sort, params.Limit, params.Skip)\n\t}\n",
    }),
  ),
  {
    file: "internal/backends/sqlite/collection.go",
    before: "\tq := prepareSelectClause(meta.TableName, params.Comment, meta.Capped(), params.OnlyRecordIDs)\n",
    after:
      "\tq := prepareSelectClause(meta.TableName, params.Comment, meta.Capped(), params.OnlyRecordIDs)\n\n" +
      "\t// patched: the first N by the sort field's index (filter_top_n.go)\n" +
      "\tif topQuery, topArgs, ok := prepareTopNQuery(q, params.Filter, params.TopN); ok && !meta.Capped() && !params.OnlyRecordIDs {\n" +
      "\t\trows, err := db.QueryContext(ctx, topQuery, topArgs...)\n\t\tif err != nil {\n\t\t\treturn nil, lazyerrors.Error(err)\n\t\t}\n\n" +
      "\t\treturn &backends.QueryResult{Iter: newQueryIterator(ctx, rows, params.OnlyRecordIDs)}, nil\n\t}\n",
  },
  {
    file: "internal/backends/sqlite/collection.go",
    before: "\tq := `EXPLAIN QUERY PLAN ` + selectClause + whereClause + orderByClause\n",
    after:
      "\tq := `EXPLAIN QUERY PLAN ` + selectClause + whereClause + orderByClause\n\n" +
      "\t// patched: the first N by the sort field's index (filter_top_n.go)\n" +
      "\tif topQuery, topArgs, ok := prepareTopNQuery(selectClause, params.Filter, params.TopN); ok && !meta.Capped() {\n" +
      "\t\tfilterPushdown, q, args = true, `EXPLAIN QUERY PLAN `+topQuery, topArgs\n\t}\n",
  },
];

const addedFiles = patches.flatMap((patch) => ("add" in patch ? [join(addedDir, patch.add)] : []));
const inputs = [join(toolsDir, "go.mod"), join(toolsDir, "go.sum"), join(toolsDir, "cmd/ferretdb-local/main.go"), ...addedFiles, import.meta.filename];
const stamp = createHash("sha256")
  .update(inputs.map((file) => readFileSync(file, "utf8")).join("\0"))
  .digest("hex");

const go = (args: string[], cwd = toolsDir) => execFileSync("go", args, { cwd, stdio: ["ignore", "pipe", "inherit"] }).toString();

/** A patch that no longer fits the pinned FerretDB: a person must review it, Go is not to blame. */
class PatchError extends Error {
  constructor(message: string) {
    super(`${message}; review the patches in scripts/build-tools.ts`);
    this.name = "PatchError";
  }
}

/** Copies the pinned FerretDB module out of the module cache and applies the patches above. */
function preparePatchedFerretDb(): void {
  const version = /github\.com\/FerretDB\/FerretDB (v\S+)/.exec(readFileSync(join(toolsDir, "go.mod"), "utf8"))?.[1];
  if (!version) throw new Error("tools/go.mod does not pin github.com/FerretDB/FerretDB");
  const { Dir } = JSON.parse(go(["mod", "download", "-json", `github.com/FerretDB/FerretDB@${version}`])) as { Dir: string };
  rmSync(patchedSource, { recursive: true, force: true });
  cpSync(Dir, patchedSource, { recursive: true });
  for (const patch of patches) {
    if ("add" in patch) {
      const target = join(patchedSource, patch.add);
      if (existsSync(target)) throw new PatchError(`FerretDB ${version} has its own ${patch.add}`);
      chmodSync(dirname(target), 0o755); // module cache directories are read-only
      cpSync(join(addedDir, patch.add), target);
      continue;
    }
    const file = join(patchedSource, patch.file);
    chmodSync(file, 0o644);
    const parts = readFileSync(file, "utf8").split(patch.before);
    const expected = patch.occurrences ?? 1;
    if (parts.length - 1 !== expected) {
      throw new PatchError(`FerretDB ${version}: ${patch.file} contains ${JSON.stringify(patch.before)} ${parts.length - 1} times, not ${expected}`);
    }
    writeFileSync(file, parts.join(patch.after));
  }
  mkdirSync(join(patchedModFile, ".."), { recursive: true });
  writeFileSync(patchedModFile, `${readFileSync(join(toolsDir, "go.mod"), "utf8")}\nreplace github.com/FerretDB/FerretDB => ${patchedSource}\n`);
  writeFileSync(patchedModFile.replace(/go\.mod$/, "go.sum"), readFileSync(join(toolsDir, "go.sum")));
}

/**
 * Builds next to the target and renames over it: other runs may be executing the old binary, and writing
 * into it in place fails with ETXTBSY (or, where it does not, changes the program under them).
 */
function goBuild(target: string, pkg: string, flags: string[] = [], cwd = toolsDir): void {
  const partial = `${target}.${process.pid}.partial`;
  try {
    go(["build", ...flags, "-o", partial, pkg], cwd);
    renameSync(partial, target);
  } finally {
    rmSync(partial, { force: true });
  }
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
    goBuild(ferretDbBin, "./cmd/ferretdb-local", [`-modfile=${patchedModFile}`]);
    goBuild(natsServerBin, "github.com/nats-io/nats-server/v2");
  } catch (error) {
    if (error instanceof PatchError) throw error;
    throw new Error(`could not build the local servers: is Go (>= 1.24) installed and on PATH? (${String(error)})`);
  }
  writeFileSync(stampFile, stamp);
}

/**
 * grpcurl, which the tests call the services with through gRPC server reflection, as an operator would. Its
 * own module (tools/grpcurl), so its dependencies never move the servers' pins, and its own stamp, so a
 * change to it rebuilds nothing else.
 */
const grpcurlDir = join(toolsDir, "grpcurl");
const grpcurlStampFile = join(binDir, ".stamp-grpcurl");
const grpcurlStamp = createHash("sha256")
  .update(["go.mod", "go.sum"].map((file) => readFileSync(join(grpcurlDir, file), "utf8")).join("\0"))
  .digest("hex");

export function ensureGrpcurl(): void {
  if (existsSync(grpcurlBin) && existsSync(grpcurlStampFile) && readFileSync(grpcurlStampFile, "utf8") === grpcurlStamp) return;
  mkdirSync(binDir, { recursive: true });
  console.log("building grpcurl with Go...");
  goBuild(grpcurlBin, "github.com/fullstorydev/grpcurl/cmd/grpcurl", [], grpcurlDir);
  writeFileSync(grpcurlStampFile, grpcurlStamp);
}

if (import.meta.main) {
  try {
    ensureLocalServers();
    ensureGrpcurl();
  } catch (error) {
    console.error((error as Error).message);
    process.exit(1);
  }
}
