package k8saudit

import (
	"bytes"
	"compress/gzip"
	"os"
	"testing"

	"github.com/saker-sec/saker/pkg/fields"
)

func writeGzip(t testing.TB, path string, data []byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	z := gzip.NewWriter(f)
	if _, err := z.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// allExtractors binds every field of the catalogue (with an argument where one is needed).
func allExtractors(t testing.TB, src *FieldSource) []fields.Extractor {
	t.Helper()
	var out []fields.Extractor
	for _, info := range fields.K8sAuditCatalog().Fields() {
		args := []string{""}
		switch {
		case info.Arg == fields.ArgRequired && info.Name == "jevt.value":
			args = []string{"/requestObject/spec", "/a~1b/0"}
		case info.Arg == fields.ArgRequired:
			args = []string{"x*"}
		case info.ArgIndex:
			args = []string{"", "0", "3"}
		}
		for _, a := range args {
			x, err := src.Extractor(info, a)
			if err != nil {
				t.Fatalf("%s[%s]: %v", info.Name, a, err)
			}
			out = append(out, x)
		}
	}
	return out
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
