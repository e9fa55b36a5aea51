// Added to FerretDB by the NgsReach local build (scripts/build-tools.ts), not part of upstream FerretDB.

package handler

import (
	"context"
	"os"
	"sync"

	"github.com/FerretDB/FerretDB/internal/backends"
	"github.com/FerretDB/FerretDB/internal/handler/common"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/iterator"
)

// FerretDB v1 runs every update, findAndModify and delete as read, change in Go, write back, with
// nothing between the read and the write: two connections that read the same document both write
// their version (lost $inc, two winners of one version guard). MongoDB makes each statement atomic
// per document; these locks do the same inside this process, which is the only writer of its data.
//
// A statement whose filter pins one _id (types.FilterID) holds its collection's lock shared and
// that _id's lock exclusively; any other statement may touch any document, so it holds its
// collection's lock exclusively: so does one with an `_id: {$in: [...]}` filter (even of one _id),
// which the SQLite backend reads by the _id index (types.FilterIDIn) but which pins no _id. Inserts
// take no lock: a duplicate _id fails in SQL as on MongoDB. A statement takes its locks before its
// query, so it reads every write committed before it, and releases them after its own write
// committed. One statement never holds two _id locks, and never waits for a lock while it holds a
// database connection (which would deadlock on the pool).

// documentLocksOn is read at the first statement, after ferretdb-local turned its -document-locks flag into
// the variable (off only for tests that must see FerretDB's own lost updates).
var documentLocksOn = sync.OnceValue(func() bool {
	return os.Getenv("FERRETDB_DOCUMENT_LOCKS") != "off"
})

type collectionLocks struct {
	all sync.RWMutex

	mu  sync.Mutex // guards ids
	ids map[any]*idLock
}

// idLock lives in its collection's map while a statement holds or waits for it, so the map holds
// only the documents being written now, not every _id ever seen.
type idLock struct {
	sync.Mutex
	refs int
}

var locksByCollection sync.Map // [2]string{db, collection} -> *collectionLocks

func locksOf(db, collection string) *collectionLocks {
	key := [2]string{db, collection}
	if cl, ok := locksByCollection.Load(key); ok {
		return cl.(*collectionLocks)
	}

	cl, _ := locksByCollection.LoadOrStore(key, &collectionLocks{ids: map[any]*idLock{}})

	return cl.(*collectionLocks)
}

// lockDocuments takes the locks for one statement with that filter and returns what releases them.
// The release is idempotent, as handlers close their closers more than once.
func lockDocuments(db, collection string, filter *types.Document) iterator.Closer {
	if !documentLocksOn() {
		return iterator.CloserFunc(func() {})
	}

	cl := locksOf(db, collection)

	// string and ObjectID values are comparable and never equal to each other: usable map keys as they are
	id, ok := types.FilterID(filter)
	if !ok {
		cl.all.Lock()
		return iterator.CloserFunc(sync.OnceFunc(cl.all.Unlock))
	}

	cl.all.RLock()

	cl.mu.Lock()
	l := cl.ids[id]
	if l == nil {
		l = new(idLock)
		cl.ids[id] = l
	}
	l.refs++
	cl.mu.Unlock()

	l.Lock()

	return iterator.CloserFunc(sync.OnceFunc(func() {
		l.Unlock()

		cl.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(cl.ids, id)
		}
		cl.mu.Unlock()

		cl.all.RUnlock()
	}))
}

// execDeleteLocked is execDelete (one delete statement) under that statement's locks.
func (h *Handler) execDeleteLocked(ctx context.Context, db, collection string, c backends.Collection, p *common.Delete) (int32, error) { //nolint:lll // for readability
	defer lockDocuments(db, collection, p.Filter).Close()

	return h.execDelete(ctx, c, p)
}
