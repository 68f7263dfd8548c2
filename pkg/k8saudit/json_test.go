package k8saudit

import (
	"encoding/json"
	"reflect"
	"testing"
)

// toAny converts a parsed value the way encoding/json decodes into any (numbers as
// json.Number), for a differential check.
func toAny(v *value) any {
	switch v.kind {
	case kNull:
		return nil
	case kTrue:
		return true
	case kFalse:
		return false
	case kNumber:
		return json.Number(v.raw)
	case kString:
		return valid(v.str)
	case kArray:
		out := make([]any, len(v.vals))
		for i, e := range v.vals {
			out[i] = toAny(e)
		}
		return out
	}
	out := map[string]any{}
	for i := len(v.keys) - 1; i >= 0; i-- { // encoding/json keeps the last duplicate
		if _, dup := out[valid(v.keys[i])]; !dup {
			out[valid(v.keys[i])] = toAny(v.vals[i])
		}
	}
	return out
}

// valid replaces invalid UTF-8 as encoding/json does (the parser keeps the bytes, as the
// k8saudit plugin's parser does).
func valid(s string) string { return string([]rune(s)) }

// FuzzJSON checks the parser against encoding/json: the same documents are valid, and they
// decode to the same values.
func FuzzJSON(f *testing.F) {
	for _, s := range []string{`{"a":[1,2,{"b":null}],"c":"\u00e9\n","d":true}`, `[]`, `{"a":"\ud800"}`, ` -0.5e-3 `, `{"a":1,"a":2}`, `[1,]`, `"\x01"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := parseJSON(data)
		if (err == nil) != json.Valid(data) {
			t.Fatalf("parse error %v, encoding/json valid %v", err, json.Valid(data))
		}
		if err != nil {
			return
		}
		d := json.NewDecoder(bytesReader(data))
		d.UseNumber()
		var want any
		if err := d.Decode(&want); err != nil {
			t.Fatal(err)
		}
		if got := toAny(v); !reflect.DeepEqual(got, want) {
			t.Fatalf("decoded %#v, encoding/json %#v", got, want)
		}
	})
}
