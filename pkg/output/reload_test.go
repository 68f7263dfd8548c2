package output

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/saker-sec/saker/internal/testshared"
)

// TestReplaceManager replaces a running manager the way a configuration reload does: the
// program channel is unchanged and kept (the same process, never restarted), the file channel
// moves to another path, the HTTP channel is built anew. Asserted with the receivers'
// content and the counters: the old file gets exactly the alerts sent before the swap and is
// closed, the new one exactly those after, the HTTP receiver and the program get all of them
// once and in order (the new HTTP channel waits for the old one to be flushed, even though
// the old one is held up), and the counters continue across the swap. A replacement that
// is discarded (a broken reload) leaves the running channels untouched.
func TestReplaceManager(t *testing.T) {
	dir := t.TempDir()
	file1, file2, file3 := filepath.Join(dir, "a1.txt"), filepath.Join(dir, "a2.txt"), filepath.Join(dir, "a3.txt")
	progOut, pids := filepath.Join(dir, "prog.txt"), filepath.Join(dir, "pids.txt")

	// the HTTP receiver records alert numbers in arrival order; the first n are held until
	// gate is closed, so the old HTTP channel is still busy when the new one has alerts
	const n = 100
	gate := make(chan struct{})
	got := make(chan int, 4*n)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_, after, _ := strings.Cut(string(body), "event ")
		num, _, _ := strings.Cut(after, " ")
		i, err := strconv.Atoi(num)
		if err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		if i < n {
			<-gate
		}
		got <- i
	}))
	defer srv.Close()
	hc := HTTPConfig{URL: srv.URL, Format: DefaultFormat, MaxRetries: -1}

	newFile := func(path string) *FileChannel {
		ch, err := NewFile(path, true, DefaultFormat)
		if err != nil {
			t.Fatal(err)
		}
		return ch
	}
	newHTTP := func() *HTTPChannel {
		ch, err := NewHTTP(hc)
		if err != nil {
			t.Fatal(err)
		}
		return ch
	}
	prog, err := NewProgram(ProgramConfig{Command: "echo $$ >> " + pids + "; exec cat >> " + progOut, KeepAlive: true})
	if err != nil {
		t.Fatal(err)
	}

	m1 := NewManager(Options{Capacity: 4 * n})
	m1.AddKeyed(newFile(file1), 0, "file1")
	m1.AddKeyed(prog, 0, "prog")
	m1.Add(newHTTP(), 0)
	m1.Start()
	for i := 0; i < n; i++ {
		m1.Send(testAlert(i))
	}

	m2 := NewManager(Options{Capacity: 4 * n, Previous: m1})
	if m2.Keep("file", "file2", 0) {
		t.Fatal("kept the file channel though its key changed")
	}
	m2.AddKeyed(newFile(file2), 0, "file2")
	if !m2.Keep("program", "prog", 0) {
		t.Fatal("the unchanged program channel was not kept")
	}
	if m2.Keep("http", "", 0) {
		t.Fatal("kept a channel without a key")
	}
	m2.Add(newHTTP(), 0)
	m2.Start()
	for i := n; i < 2*n; i++ { // the run loop sends to the new manager from now on
		m2.Send(testAlert(i))
	}
	close(gate)
	if err := m1.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if fds := testshared.OpenPaths(t); fds[file1] || !fds[file2] {
		t.Errorf("after closing the old manager: open files %v, want %s closed and %s open", fds, file1, file2)
	}

	// a replacement that fails half-way is discarded: nothing it would have kept is closed
	m3 := NewManager(Options{Capacity: 4 * n, Previous: m2})
	m3.AddKeyed(newFile(file3), 0, "file3")
	if !m3.Keep("program", "prog", 0) {
		t.Fatal("program not kept by the second replacement")
	}
	if err := m3.Discard(context.Background()); err != nil {
		t.Fatal(err)
	}
	if testshared.OpenPaths(t)[file3] {
		t.Errorf("%s still open after Discard", file3)
	}
	for i := 2 * n; i < 3*n; i++ {
		m2.Send(testAlert(i))
	}
	if err := m2.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	check := func(what string, lines []string, from, to int) {
		t.Helper()
		if len(lines) != to-from {
			t.Fatalf("%s: %d lines, want alerts %d..%d", what, len(lines), from, to-1)
		}
		for i, l := range lines {
			if want := testAlert(from + i).Text(); l != want {
				t.Fatalf("%s line %d: %q, want %q", what, i, l, want)
			}
		}
	}
	check(file1, testshared.ReadLines(t, file1), 0, n)
	check(file2, testshared.ReadLines(t, file2), n, 3*n)
	check("program", testshared.ReadLines(t, progOut), 0, 3*n)
	if l := testshared.ReadLines(t, file3); len(l) != 0 {
		t.Errorf("the discarded file channel wrote %d lines", len(l))
	}
	if p := testshared.ReadLines(t, pids); len(p) != 1 || prog.Restarts() != 0 {
		t.Errorf("program started %d times (%v), restarted %d times; want one process throughout", len(p), p, prog.Restarts())
	}
	close(got)
	i := 0
	for k := range got {
		if k != i {
			t.Fatalf("HTTP receiver got alert %d as #%d: out of order across the swap", k, i)
		}
		i++
	}
	if i != 3*n {
		t.Fatalf("HTTP receiver got %d alerts, want %d", i, 3*n)
	}
	for _, name := range []string{"file", "program", "http"} {
		if s := statsOf(m2, name); s.Sent != 3*n {
			t.Errorf("%s: %+v, want the counters to continue across the swap (%d sent)", name, s, 3*n)
		}
	}
}
