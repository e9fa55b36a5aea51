// Added to FerretDB by the NgsReach local build (scripts/build-tools.ts), not part of upstream FerretDB.

package sqlite

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/FerretDB/FerretDB/internal/backends/sqlite/metadata"
	"github.com/FerretDB/FerretDB/internal/handler/sjson"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

// maxPushdownEqualities is how many of a filter's equalities the WHERE clause names: it is an OR of
// 2^n branches (below), each one index search.
const maxPushdownEqualities = 3

// pushdownField is a field name written into SQL as it is: the quoted label of `->`, exactly as the
// SQLite backend writes it when it creates an index on the field (metadata.Registry), so SQLite sees
// the same expression and can search the index. Other names (dots, quotes, ...) are left to the handler.
var pushdownField = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)

// prepareEqualWhereClause returns a WHERE clause that narrows a filter by its top-level equalities of
// a field to a string or a boolean ({f: v} or {f: {$eq: v}}, at most maxPushdownEqualities of them),
// on the expressions `_ferretdb_sjson->"f"` the backend's indexes are built on, so a query whose
// equalities name an index's leading fields searches that index instead of decoding the collection.
//
// MongoDB's {f: v} also matches a document whose f is an array holding v, so each field's condition
// keeps every array too: f's value is the marshalled v (the form the _id conditions compare) or JSON
// text starting with "[" (`->` renders an array so; "[" is 0x5B, "\" 0x5C). The clause is the OR of
// every choice of one of the two per field — (a = ? AND b = ?) OR (a = ? AND b >= '[' AND b < '\')
// OR ... — rather than the AND of per-field ORs, which SQLite can search by one field only: each
// branch is a search of the index on its fields, and the branches with an array range are empty
// unless arrays are stored there. It is a superset of the filter's matches (an ObjectID stored as f
// passes the string condition, an array passes whatever it holds): the handler applies the whole
// filter to what Query returns.
func prepareEqualWhereClause(filter *types.Document) (string, []any, bool) {
	condition, args, ok := equalCondition(filter)
	if !ok {
		return "", nil, false
	}

	return ` WHERE ` + condition, args, true
}

// equalCondition is prepareEqualWhereClause's condition, without the WHERE.
func equalCondition(filter *types.Document) (string, []any, bool) {
	keys := filter.Keys()
	values := filter.Values()

	counts := keyCounts(keys)

	var columns []string
	var rendered []string

	for i, key := range keys {
		if len(columns) == maxPushdownEqualities {
			break
		}

		// _id is the other pushdowns' (a duplicated key is something MongoDB would reject)
		if !isFieldKey(key, counts) {
			continue
		}

		v := values[i]
		if op, ok := v.(*types.Document); ok && op.Len() == 1 && op.Has("$eq") {
			v, _ = op.Get("$eq")
		}

		switch v.(type) {
		case string, bool:
		default:
			continue
		}

		columns = append(columns, fieldColumn(key))
		rendered = append(rendered, marshalled(v))
	}

	if len(columns) == 0 {
		return "", nil, false
	}

	var branches []string
	var args []any

	for choice := 0; choice < 1<<len(columns); choice++ {
		conditions := make([]string, len(columns))

		for i, column := range columns {
			if choice&(1<<i) == 0 {
				conditions[i] = column + " = ?"
				args = append(args, rendered[i])
			} else {
				conditions[i] = fmt.Sprintf(`%[1]s >= '[' AND %[1]s < '\'`, column)
			}
		}

		branches = append(branches, "("+strings.Join(conditions, " AND ")+")")
	}

	return "(" + strings.Join(branches, " OR ") + ")", args, true
}

// keyCounts is how often each key occurs in a filter (a raw BSON filter may repeat one).
func keyCounts(keys []string) map[string]int {
	counts := make(map[string]int, len(keys))
	for _, key := range keys {
		counts[key]++
	}

	return counts
}

// isFieldKey reports whether a filter key is a field these pushdowns may name: not _id (the _id
// pushdowns' own), not repeated (MongoDB would reject it), and a pushdownField.
func isFieldKey(key string, counts map[string]int) bool {
	return key != "_id" && counts[key] == 1 && pushdownField.MatchString(key)
}

// fieldColumn is the expression the backend's indexes on a top-level field are built on.
func fieldColumn(field string) string {
	return fmt.Sprintf("%s->%q", metadata.DefaultColumn, field)
}

// marshalled is a value as the backend stores it, so as `->` renders it.
func marshalled(v any) string {
	return string(must.NotFail(sjson.MarshalSingleValue(v)))
}
