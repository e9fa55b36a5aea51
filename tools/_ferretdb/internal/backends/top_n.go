// Added to FerretDB by the NgsReach local build (scripts/build-tools.ts), not part of upstream FerretDB.

package backends

import (
	"strings"

	"github.com/FerretDB/FerretDB/internal/types"
)

// TopN asks a backend for at least the first N documents its filter matches in the order of one
// top-level field (a find's sort on that field and its limit plus skip). A backend may return more, or
// ignore it: the handler still filters, sorts, skips and limits what it gets. The zero value asks nothing.
type TopN struct {
	Field string
	Desc  bool
	N     int64
}

// TopNOf is the TopN of a find with a validated sort document, a limit and a skip; the zero TopN when
// the sort is not on exactly one field, or there is no limit.
func TopNOf(sort *types.Document, limit, skip int64) TopN {
	if sort.Len() != 1 || limit <= 0 || skip < 0 {
		return TopN{}
	}

	field := sort.Keys()[0]
	if strings.HasPrefix(field, "$") || strings.ContainsRune(field, '.') {
		return TopN{}
	}

	order, _ := sort.Get(field)

	switch order {
	case int64(1):
		return TopN{Field: field, N: limit + skip}
	case int64(-1):
		return TopN{Field: field, Desc: true, N: limit + skip}
	default:
		return TopN{}
	}
}
