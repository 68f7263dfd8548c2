package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/saker-sec/saker/internal/procstat"
)

// memoryBound is saker's resource bound with the default configuration, the upstream rules
// and 5,000 threads on the host, on its whole resident set (VmRSS, what ps, top and a
// container's memory show): its private memory (RssAnon: Go heap, stacks, the state tables),
// the ring buffer, which the kernel maps twice into the process, all at once (the default ring
// is 2 MiB per online CPU, at least 4 MiB: 8 MiB of VmRSS on 2 CPUs), and the executable's
// file pages (those start-up touched are given back once saker is ready: internal/selfmem).
// See ARCHITECTURE.md, Memory.
const memoryBound = 64 << 20

// TestLiveMemoryThreads runs saker with the three upstream rules files while the test holds
// 5,000 more threads (half started before saker, found by its /proc scan, half after, seen by
// their clone events), checks that its state table holds them, and asserts the memory bound.
func TestLiveMemoryThreads(t *testing.T) {
	need(t)
	const n = 5000
	release := make(chan struct{})
	defer close(release)
	started := make(chan struct{}, n)
	spawn := func(k int) {
		for i := 0; i < k; i++ {
			go func() {
				runtime.LockOSThread() // one OS thread each, parked until release
				started <- struct{}{}
				<-release
			}()
		}
		for i := 0; i < k; i++ {
			<-started
		}
	}
	spawn(n / 2)

	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte("memtest"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	args := []string{"run", "--json", "-o", "webserver.enabled=true", "-o", "webserver.listen_port=" + strconv.Itoa(port),
		"-o", "webserver.auth.token_file=" + tok}
	for _, f := range ruleFiles {
		args = append(args, "-r", f)
	}
	s := startSaker(t, args...)
	defer stop(t, s, os.Interrupt)
	spawn(n - n/2)

	// events, so the state gauge (updated every 4,096 events) is current
	deadline := time.Now().Add(alertWait)
	var threads float64
	for time.Now().Before(deadline) {
		for i := 0; i < 5000; i++ {
			if f, err := os.Open("/etc/hostname"); err == nil {
				f.Close()
			}
		}
		m, err := procstat.Scrape(fmt.Sprintf("http://127.0.0.1:%d/metrics", port), "memtest")
		if err != nil {
			t.Fatal(err)
		}
		threads = m["saker_state_threads"]
		if threads >= n {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if threads < n {
		t.Fatalf("saker_state_threads = %v: the %d threads are not all in the state table", threads, n)
	}
	st, err := procstat.Status(s.Pid())
	if err != nil {
		t.Fatal(err)
	}
	ring, err := procstat.BPFMapRSS(s.Pid())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("saker with %d more threads (%v in its table): VmRSS %d KiB, RssAnon %d KiB, RssFile %d KiB, ring mapping %d KiB, VmHWM %d KiB",
		n, threads, st["VmRSS"], st["RssAnon"], st["RssFile"], ring, st["VmHWM"])
	if rss := st["VmRSS"] << 10; rss > memoryBound {
		t.Errorf("VmRSS %d MiB > %d MiB (RssAnon %d MiB, RssFile %d MiB of which the ring %d MiB)",
			rss>>20, memoryBound>>20, st["RssAnon"]>>10, st["RssFile"]>>10, ring>>10)
	}
}
