// Added to FerretDB by the NgsReach local build (scripts/build-tools.ts), not part of upstream FerretDB.

package postgresql

import (
	"fmt"
	"strings"

	"github.com/FerretDB/FerretDB/internal/backends/postgresql/metadata"
	"github.com/FerretDB/FerretDB/internal/handler/sjson"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

// maxPushdownIDs is the longest _id $in list compared by the _id index, one SQL parameter each
// (PostgreSQL allows 65,535); a longer list is left to the handler, as upstream leaves every $in.
const maxPushdownIDs = 1000

// prepareIDCondition returns the SQL condition and its arguments that select, by the _id index, the
// documents a filter's top-level _id allows: the one _id it pins (types.FilterID) or the strings and
// ObjectIDs of its lone $in (types.FilterIDIn). It is a superset of the filter's matches: the handler
// applies the whole filter to what Query returns.
//
// The index FerretDB creates for _id (metadata.Registry.indexesCreate) is on ((_jsonb->'_id')), a btree,
// which PostgreSQL only uses for that expression (metadata.IDColumn, the key a literal, not a
// parameter) compared with a btree operator; upstream's `_jsonb->$1 @> $2` is neither. Each _id is
// marshalled as DeleteAll marshals the _ids it deletes, so `=` compares the stored JSON value.
func prepareIDCondition(p *metadata.Placeholder, filter *types.Document) (string, []any, bool) {
	if id, ok := types.FilterID(filter); ok {
		return fmt.Sprintf(`%s = %s`, metadata.IDColumn, p.Next()), []any{string(must.NotFail(sjson.MarshalSingleValue(id)))}, true
	}

	ids, ok := types.FilterIDIn(filter, maxPushdownIDs)
	if !ok {
		return "", nil, false
	}

	// MongoDB's `$in: []` matches nothing
	if len(ids) == 0 {
		return `FALSE`, nil, true
	}

	placeholders := make([]string, len(ids))
	args := make([]any, len(ids))

	for i, id := range ids {
		placeholders[i] = p.Next()
		args[i] = string(must.NotFail(sjson.MarshalSingleValue(id)))
	}

	return fmt.Sprintf(`%s IN (%s)`, metadata.IDColumn, strings.Join(placeholders, ", ")), args, true
}
