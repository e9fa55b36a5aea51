// Added to FerretDB by the NgsReach local build (scripts/build-tools.ts), not part of upstream FerretDB.

package sqlite

import (
	"fmt"
	"strings"

	"github.com/FerretDB/FerretDB/internal/backends/sqlite/metadata"
	"github.com/FerretDB/FerretDB/internal/handler/sjson"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

// maxPushdownIDs is the longest _id $in list fetched by the _id index, one SQL parameter each
// (SQLite allows 32,766); a longer list is left to the handler, which then reads every document.
const maxPushdownIDs = 1000

// prepareIDInWhereClause returns the WHERE clause and its arguments that fetch, by the _id index, the
// documents a filter's top-level `_id: {$in: [...]}` of strings and ObjectIDs lists (types.FilterIDIn).
// It is a superset of the filter's matches: the handler applies the whole filter to what Query returns.
// Each _id is marshalled and compared on metadata.IDColumn as for a single _id, so SQLite uses the index.
func prepareIDInWhereClause(filter *types.Document) (string, []any, bool) {
	ids, ok := types.FilterIDIn(filter, maxPushdownIDs)
	if !ok {
		return "", nil, false
	}

	// MongoDB's `$in: []` matches nothing
	if len(ids) == 0 {
		return ` WHERE 0`, nil, true
	}

	placeholders := make([]string, len(ids))
	args := make([]any, len(ids))

	for i, id := range ids {
		placeholders[i] = "?"
		args[i] = string(must.NotFail(sjson.MarshalSingleValue(id)))
	}

	return fmt.Sprintf(` WHERE %s IN (%s)`, metadata.IDColumn, strings.Join(placeholders, ", ")), args, true
}
