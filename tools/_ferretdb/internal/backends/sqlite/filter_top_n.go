// Added to FerretDB by the NgsReach local build (scripts/build-tools.ts), not part of upstream FerretDB.

package sqlite

import (
	"fmt"
	"strings"

	"github.com/FerretDB/FerretDB/internal/backends"
	"github.com/FerretDB/FerretDB/internal/backends/sqlite/metadata"
	"github.com/FerretDB/FerretDB/internal/types"
)

// rangeOperators are the comparisons a top-N filter may hold on a field, with their SQL.
var rangeOperators = map[string]string{"$eq": "=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}

// prepareTopNQuery returns a query (after selectClause) for at least the first topN.N documents that
// filter matches in the order of the field topN.Field, when the filter can be written exactly in SQL: a
// find's sort and limit, so a page of a large result set is read without decoding every document.
//
// The candidates (the equalities' superset, equalCondition) fall in two parts. On "decidable" ones SQL
// decides the filter as the handler would and orders the field as it would: each field of an equality
// to a string holds a string (not an array holding it, nor an ObjectID, binData or regex rendered alike:
// the type comes from the document's sjson schema), each field of an equality to a boolean a boolean,
// and each field compared by $gt, $gte, $lt, $lte or $eq to a string, and the sort field, a safe string.
// `->` renders a string as JSON text, whose byte order is the string's only when no character needs an
// escape and none sorts below the closing quote (space and "!"): "safe" is no byte below 0x23 and no
// backslash (every escape has one), for the stored strings and the bounds alike. Of the decidable
// documents, those the comparisons reject are no match, and of the rest the first N in the field's
// order are the first N of all of them (LIMIT, by the field's index when one serves it). The other
// candidates are returned whole, as they would have been without the sort: usually none. The handler
// filters, sorts and limits the union as it always does, so the result is the same as without this: each
// of the true first N is among the first N decidable matches or among the others. Telling the others
// apart still has SQLite parse each candidate's JSON (its schema is not in any index): a read costs
// that per candidate, instead of the handler decoding and sorting every one of them. (Reading the
// others by index ranges of the rendered field instead was tried: what SQLite cannot range over, unsafe
// strings, still needs the parse, and the extra reads made it slower.)
//
// Filters with any other key (_id, operators beyond those above, dotted paths, numbers) are left as before.
func prepareTopNQuery(selectClause string, filter *types.Document, topN backends.TopN) (string, []any, bool) {
	if topN.N <= 0 || !pushdownField.MatchString(topN.Field) {
		return "", nil, false
	}

	superset, supersetArgs, ok := equalCondition(filter)
	if !ok {
		return "", nil, false
	}

	parts, ok := topNConditions(filter, topN.Field)
	if !ok {
		return "", nil, false
	}

	order := ""
	if topN.Desc {
		order = " DESC"
	}

	q := fmt.Sprintf(
		`SELECT %[1]s FROM (%[2]s WHERE %[3]s AND %[4]s AND %[5]s ORDER BY %[6]s%[7]s LIMIT ?)`+
			` UNION ALL %[2]s WHERE %[3]s AND COALESCE(%[4]s, 0) = 0`,
		metadata.DefaultColumn, selectClause, superset, parts.decidable, parts.predicate, fieldColumn(topN.Field), order,
	)

	args := append(append(append([]any{}, supersetArgs...), parts.args...), topN.N)
	args = append(args, supersetArgs...)

	return q, args, true
}

// topNParts are the conditions of prepareTopNQuery's reads.
type topNParts struct {
	// decidable: SQL decides the filter as the handler would and orders the sort field as it would.
	decidable string
	// predicate: the filter's comparisons (with args), which decide it on a decidable document.
	predicate string
	args      []any
}

// topNConditions writes a filter as topNParts (see prepareTopNQuery): a document is decidable when each
// field of an equality to a string holds a string, of one to a boolean a boolean, and each field compared
// by $gt, $gte, $lt, $lte or $eq to a safe string, and the sort field, hold safe strings. A decidable
// document failing the predicate is no match. False when the filter cannot be written so.
func topNConditions(filter *types.Document, orderBy string) (topNParts, bool) {
	keys := filter.Keys()
	values := filter.Values()

	counts := keyCounts(keys)

	decidables := []string{safeString(orderBy)}
	var predicates []string
	var args []any

	for i, key := range keys {
		if !isFieldKey(key, counts) {
			return topNParts{}, false
		}

		column := fieldColumn(key)

		switch v := values[i].(type) {
		case string, bool:
			t := "string"
			if _, isBool := v.(bool); isBool {
				t = "bool"
			}

			decidables = append(decidables, typeIs(key, t))
			predicates = append(predicates, column+" = ?")
			args = append(args, marshalled(v))
		case *types.Document:
			if v.Len() == 0 {
				return topNParts{}, false
			}

			decidables = append(decidables, safeString(key))

			for _, op := range v.Keys() {
				sqlOp, known := rangeOperators[op]
				bound, _ := v.Get(op)
				text, isString := bound.(string)

				if !known || !isString || !isSafe(marshalled(text)) {
					return topNParts{}, false
				}

				predicates = append(predicates, fmt.Sprintf("%s %s ?", column, sqlOp))
				args = append(args, marshalled(text))
			}
		default:
			return topNParts{}, false
		}
	}

	if len(predicates) == 0 {
		predicates = []string{"1"}
	}

	return topNParts{
		decidable: "(" + strings.Join(decidables, " AND ") + ")",
		predicate: "(" + strings.Join(predicates, " AND ") + ")",
		args:      args,
	}, true
}

// typeIs is true when the document's sjson schema gives the field that type.
func typeIs(field, t string) string {
	return fmt.Sprintf(`%s->>'$."$s".p.%s.t' = '%s'`, metadata.DefaultColumn, field, t)
}

// safeString is true when the field holds a string whose JSON text orders as the string does.
func safeString(field string) string {
	return fmt.Sprintf(`(%s AND %s NOT GLOB '*[ !\]*')`, typeIs(field, "string"), fieldColumn(field))
}

// isSafe reports whether a marshalled string's JSON text orders as the string does.
func isSafe(text string) bool {
	for i := 0; i < len(text); i++ {
		if text[i] < 0x23 && !(text[i] == '"' && (i == 0 || i == len(text)-1)) || text[i] == '\\' {
			return false
		}
	}

	return true
}
