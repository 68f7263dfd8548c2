package deny

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkOpenMarked: the added cost per open+close of a file on a marked tmpfs (each open
// a permission event: read, /proc read of the opener, the deny rules evaluated on the
// synthesized openat, answered FAN_ALLOW), against the same loop on an unmarked tmpfs, in
// one run. The opener is another process (the test binary as "untrusted"), as Saker's own
// opens take the trusted fast path.
//
//	go test -run XXX -bench OpenMarked -benchtime 20000x ./pkg/deny
func BenchmarkOpenMarked(b *testing.B) {
	w := newWorld(b)
	plain := b.TempDir()
	if err := unix.Mount("tmpfs", plain, "tmpfs", 0, "size=1m"); err != nil {
		b.Fatal(err)
	}
	defer unix.Unmount(plain, unix.MNT_DETACH)
	plainFile := filepath.Join(plain, "motd")
	markedFile := filepath.Join(w.dir, "motd")
	for _, f := range []string{plainFile, markedFile} {
		os.WriteFile(f, []byte("hi\n"), 0o644)
	}
	g, err := Start(Options{Paths: []string{w.dir}, Decider: ruleDecider(b, w.dir), Deadline: 2 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	var base float64
	for _, c := range []struct{ name, file string }{{"unmarked", plainFile}, {"marked", markedFile}} {
		b.Run(c.name, func(b *testing.B) {
			out := w.run(b, "untrusted", "bench", strconv.Itoa(b.N)+":"+c.file)
			ns, err := strconv.ParseFloat(strings.TrimPrefix(out, "ok "), 64)
			if err != nil {
				b.Fatalf("opener: %q", out)
			}
			b.ReportMetric(ns, "ns/open")
			if c.name == "unmarked" {
				base = ns
			} else if base > 0 {
				b.ReportMetric(ns/base, "x_unmarked")
			}
		})
	}
}
