package k8saudit

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseEventListAndSingle(t *testing.T) {
	list := `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[
		{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"x1","stage":"ResponseComplete","stageTimestamp":"2026-12-02T06:00:00.000000123Z"},
		{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"x2","stage":"ResponseComplete"},
		{"kind":"Event","auditID":"x3","stageTimestamp":"2026-12-02T07:00:00Z"}]}`
	res, err := Parse([]byte(list))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Events) != 2 || res.Events[0].AuditID() != "x1" || res.Events[1].AuditID() != "x3" {
		t.Fatalf("events %+v", res.Events)
	}
	if want := time.Date(2026, 12, 2, 6, 0, 0, 123, time.UTC); !res.Events[0].Time().Equal(want) || res.Events[0].TS != uint64(want.UnixNano()) {
		t.Errorf("time %v, want %v (from stageTimestamp)", res.Events[0].Time(), want)
	}
	if len(res.Errs) != 1 || !strings.Contains(res.Errs[0].Error(), "items[1]") || !strings.Contains(res.Errs[0].Error(), "stageTimestamp") {
		t.Errorf("errs %v", res.Errs)
	}
	if res.Events[0].Num() == 0 || res.Events[0].Num() == res.Events[1].Num() {
		t.Errorf("serials %d %d", res.Events[0].Num(), res.Events[1].Num())
	}
	// A single Event without apiVersion, and an array of payloads.
	res, err = Parse([]byte(`[{"kind":"Event","auditID":"s1","stageTimestamp":"2026-12-02T06:00:00Z"},{"kind":"EventList","items":[{"kind":"Event","auditID":"s2","stageTimestamp":"2026-12-02T06:00:00Z"}]}]`))
	if err != nil || len(res.Events) != 2 || res.Events[1].AuditID() != "s2" {
		t.Fatalf("array: %v %+v", err, res)
	}
	if string(res.Events[0].Data) != `{"kind":"Event","auditID":"s1","stageTimestamp":"2026-12-02T06:00:00Z"}` {
		t.Errorf("data %s", res.Events[0].Data)
	}
}

func TestParseNotAudit(t *testing.T) {
	for _, in := range []string{`hello`, `{"kind":"Status"}`, `{"items":[]}`, `{"kind":"EventList"}`, `42`, `{"kind":1}`, `{"kind":"Event"`, ``} {
		_, err := Parse([]byte(in))
		if !errors.Is(err, ErrNotAudit) {
			t.Errorf("%q: err %v, want %v", in, err, ErrNotAudit)
		}
	}
}

func TestReaderMixedFile(t *testing.T) {
	var warns []string
	path := filepath.Join("testdata", "mixed.jsonl")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := NewReader(f, path)
	r.Warn = func(err error) { warns = append(warns, err.Error()) }
	var ids []string
	for {
		ev, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.AuditID())
	}
	if got, want := strings.Join(ids, ","), "a1,a2,a4,a6,a7"; got != want {
		t.Errorf("events %s, want %s", got, want)
	}
	wantLines := []string{":3: ", ":5: ", ":6: ", ":8: "}
	if len(warns) != len(wantLines) {
		t.Fatalf("warnings %q", warns)
	}
	for i, w := range warns {
		if !strings.HasPrefix(w, path+wantLines[i]) || !strings.Contains(w, "data not recognized as a k8s audit event") {
			t.Errorf("warning %d: %q, want %s%s... data not recognized as a k8s audit event", i, w, path, wantLines[i])
		}
	}
	if r.Skipped != 4 {
		t.Errorf("skipped %d", r.Skipped)
	}
}

func TestReadFileGzip(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join("testdata", "privileged-pod.json"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "audit.log.gz")
	writeGzip(t, p, data)
	evs, err := ReadFile(p, func(err error) { t.Errorf("warning: %v", err) })
	if err != nil || len(evs) != 1 || evs[0].AuditID() != "0f4c8e2a-1b7d-4e0e-9c1a-3d3f2b9a7e11" {
		t.Fatalf("%v %v", err, evs)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{`{"kind":"EventList","items":[{"kind":"Event","auditID":"a","stageTimestamp":"2026-12-02T06:00:00Z","requestObject":{"spec":{"containers":[{"image":"x:1"}]}}}]}`,
		`{"kind":"Event","stageTimestamp":"x"}`, `[1,2,{"a":"\u00e9\ud83d\ude00"}]`, `{"a":-1.5e+3}`} {
		f.Add([]byte(s))
	}
	src := NewFieldSource()
	exts := allExtractors(f, src)
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrNotAudit) {
				t.Fatalf("error %v does not wrap ErrNotAudit", err)
			}
			return
		}
		for _, ev := range res.Events {
			for _, x := range exts {
				x(ev)
			}
		}
	})
}

func FuzzReader(f *testing.F) {
	f.Add([]byte("{\"kind\":\"Event\",\"stageTimestamp\":\"2026-12-02T06:00:00Z\"}\n\nxx\n{\n\"kind\":\"EventList\",\"items\":[]}\n{\"a\":\"}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(strings.NewReader(string(data)), "fuzz")
		for i := 0; ; i++ {
			_, err := r.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if i > len(data) {
				t.Fatal("more events than bytes")
			}
		}
	})
}

func TestIsAuditFile(t *testing.T) {
	dir := t.TempDir()
	gz := filepath.Join(dir, "a.json.gz")
	writeGzip(t, gz, []byte("\n\n  {\"kind\":\"EventList\"}"))
	scap := filepath.Join(dir, "c.scap")
	os.WriteFile(scap, []byte{0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0}, 0o644)
	empty := filepath.Join(dir, "e")
	os.WriteFile(empty, nil, 0o644)
	for p, want := range map[string]bool{filepath.Join("testdata", "mixed.jsonl"): true, gz: true, scap: false, empty: false} {
		got, err := IsAuditFile(p)
		if err != nil || got != want {
			t.Errorf("%s: %v %v, want %v", p, got, err, want)
		}
	}
}

func TestReaderLongLine(t *testing.T) {
	ev := `{"kind":"Event","auditID":"ok","stageTimestamp":"2026-12-02T06:00:00Z"}`
	in := ev + "\n" + `{"kind":"Event","pad":"` + strings.Repeat("x", 1<<20) + `"}` + "\n" + ev + "\n"
	r := NewReader(strings.NewReader(in), "big")
	r.MaxLineBytes = 4096
	var warns []string
	r.Warn = func(err error) { warns = append(warns, err.Error()) }
	n := 0
	for {
		_, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 2 || len(warns) != 1 || !strings.HasPrefix(warns[0], "big:2: data not recognized as a k8s audit event (line longer") {
		t.Fatalf("%d events, warnings %q", n, warns)
	}
}
