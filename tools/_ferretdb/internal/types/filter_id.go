// Added to FerretDB by the NgsReach local build (scripts/build-tools.ts), not part of upstream FerretDB.

package types

// FilterID returns the _id a filter pins, when it has exactly one top-level _id that equals
// (directly or with a lone $eq) a string or an ObjectID; such a filter matches at most that one
// document, whatever else it holds. The SQLite backend fetches such a filter's document by its
// _id index, and the handler's per-document locks key on it.
func FilterID(filter *Document) (any, bool) {
	v, ok := topLevelID(filter)
	if !ok {
		return nil, false
	}

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

// FilterIDIn returns the _ids a filter lists, when it has exactly one top-level _id that is a lone
// {$in: [...]} of at most limit values, each a string or an ObjectID; such a filter matches only
// documents with one of those _ids (none for an empty list), whatever else it holds. The list is
// returned as given, duplicates included. The SQLite backend fetches such a filter's documents by
// its _id index.
//
// Such a filter may match several documents, so it pins no _id: FilterID is false for it (even for
// a list of one), and the per-document locks, which use only FilterID, lock its whole collection.
func FilterIDIn(filter *Document, limit int) ([]any, bool) {
	v, ok := topLevelID(filter)
	if !ok {
		return nil, false
	}

	op, ok := v.(*Document)
	if !ok || op.Len() != 1 || !op.Has("$in") {
		return nil, false
	}

	in, _ := op.Get("$in")

	list, ok := in.(*Array)
	if !ok || list.Len() > limit {
		return nil, false
	}

	ids := make([]any, list.Len())

	for i := range ids {
		id, err := list.Get(i)
		if err != nil {
			return nil, false
		}

		switch id.(type) {
		case string, ObjectID:
			ids[i] = id
		default:
			return nil, false
		}
	}

	return ids, true
}

// topLevelID returns the value of a filter's top-level _id, when it has exactly one.
func topLevelID(filter *Document) (any, bool) {
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

	return v, true
}
