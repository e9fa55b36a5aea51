// Added to FerretDB by the NgsReach local build (scripts/build-tools.ts), not part of upstream FerretDB.

package types

// FilterID returns the _id a filter pins, when it has exactly one top-level _id that equals
// (directly or with a lone $eq) a string or an ObjectID; such a filter matches at most that one
// document, whatever else it holds. The SQLite backend fetches such a filter's document by its
// _id index, and the handler's per-document locks key on it.
func FilterID(filter *Document) (any, bool) {
	seen := 0
	for _, key := range filter.Keys() {
		if key == "_id" {
			seen++
		}
	}

	// Document.Get panics on a duplicated key; a raw BSON filter may hold one.
	if seen != 1 {
		return nil, false
	}

	v, _ := filter.Get("_id")
	if op, ok := v.(*Document); ok && op.Len() == 1 && op.Has("$eq") {
		v, _ = op.Get("$eq")
	}

	switch v.(type) {
	case string, ObjectID:
		return v, true
	default:
		return nil, false
	}
}
