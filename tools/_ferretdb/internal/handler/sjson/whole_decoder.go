// Added to FerretDB v1 by NgsReach's scripts/build-tools.ts (patch 8); Apache-2.0 like the rest of this package.

package sjson

import (
	"bytes"
	"encoding/json"
	"reflect"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/FerretDB/FerretDB/internal/util/lazyerrors"
)

// wholeDecoder stands in for the *json.Decoder each value's UnmarshalJSON made for its few bytes: a
// json.Decoder allocates a buffer, copies its input into it and scans it twice, which was most of the
// database's CPU when reading documents. Every caller decodes exactly one value that is its whole input,
// so one json.Unmarshal of those bytes does the same (trailing data is an error in both).
type wholeDecoder struct {
	r      *bytes.Reader
	strict bool
}

// newDecoder replaces json.NewDecoder(r) for a reader holding exactly one JSON value.
func newDecoder(r *bytes.Reader) *wholeDecoder {
	return &wholeDecoder{r: r}
}

// DisallowUnknownFields is json.Decoder's: unknown fields of a struct are an error.
func (d *wholeDecoder) DisallowUnknownFields() {
	d.strict = true
}

// Decode reads the rest of the reader as one JSON value into v.
func (d *wholeDecoder) Decode(v any) error {
	data := make([]byte, d.r.Len())
	_, _ = d.r.Read(data)

	if s, ok := v.(*string); ok {
		if plain, ok := plainString(data); ok {
			*s = plain
			return nil
		}
	}

	if d.strict && isStruct(v) {
		// Only a struct has fields to be strict about; keep json.Decoder's rule for it, and its trailing-data check.
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()

		if err := dec.Decode(v); err != nil {
			return err
		}

		if dec.InputOffset() != int64(len(data)) {
			return lazyerrors.Errorf("%d bytes remain after the value: %s", int64(len(data))-dec.InputOffset(), data)
		}

		return nil
	}

	return json.Unmarshal(data, v)
}

// plainString is the value of a JSON string without escapes, control characters or invalid UTF-8
// (what json.Unmarshal would return for it unchanged); ok is false for any other input.
func plainString(data []byte) (string, bool) {
	if len(data) < 2 || data[0] != '"' || data[len(data)-1] != '"' {
		return "", false
	}

	inner := data[1 : len(data)-1]
	for _, c := range inner {
		if c == '\\' || c == '"' || c < 0x20 {
			return "", false
		}
	}

	if !utf8.Valid(inner) {
		return "", false
	}

	return string(inner), true
}

// isStruct tells whether v points to a struct.
func isStruct(v any) bool {
	t := reflect.TypeOf(v)
	return t != nil && t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct
}

// schemaCacheLimit bounds the bytes of the schemas remembered: a collection's documents share a few schemas,
// so this holds every one a service's collections use many times over.
const schemaCacheLimit = 8 << 20

var (
	schemaCache      sync.Map // string($s bytes) -> *schema, never changed once stored
	schemaCacheBytes atomic.Int64
)

// decodeSchema decodes a document's `$s` strictly, as before, once per distinct schema: a document's schema is
// as long as its data and documents of one collection mostly share one, so decoding it each time doubled the work.
func decodeSchema(data []byte) (*schema, error) {
	if cached, ok := schemaCache.Load(string(data)); ok {
		return cached.(*schema), nil
	}

	sch := new(schema)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()

	if err := dec.Decode(sch); err != nil {
		return nil, lazyerrors.Error(err)
	}

	if dec.InputOffset() != int64(len(data)) {
		return nil, lazyerrors.Errorf("%d bytes remain after the schema: %s", int64(len(data))-dec.InputOffset(), data)
	}

	if schemaCacheBytes.Add(int64(len(data))) <= schemaCacheLimit {
		schemaCache.Store(string(data), sch)
	}

	return sch, nil
}
