package deny

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// watchdogEnv marks the watchdog process (its value: the deadline in nanoseconds).
const watchdogEnv = "SAKER_DENY_WATCHDOG"

// The watchdog's fds: the fanotify group, the heartbeat pipe (read end), the report pipe
// (write end).
const (
	wdFan    = 3
	wdBeat   = 4
	wdReport = 5
)

// RunWatchdogIfChild runs the watchdog and exits when this process was started as a Guard's
// watchdog; otherwise it returns at once. Call it first in main (and in TestMain of tests
// that start a Guard with Options.Watchdog).
func RunWatchdogIfChild() {
	v := os.Getenv(watchdogEnv)
	if v == "" {
		return
	}
	d, err := strconv.ParseInt(v, 10, 64)
	if err != nil || d <= 0 {
		fmt.Fprintf(os.Stderr, "saker deny watchdog: bad %s=%q\n", watchdogEnv, v)
		os.Exit(2)
	}
	runWatchdog(time.Duration(d), os.Getppid())
	os.Exit(0)
}

// runWatchdog waits for heartbeats; when none comes for a deadline it answers FAN_ALLOW for
// every event its parent holds (the response names the event by its fd number in the
// reader's table, which the kernel looks up in the group, whoever writes) and for new ones,
// until the heartbeats resume. It returns when the parent closes the heartbeat pipe (it
// exited, or closed its Guard), so it never keeps the group alive on its own.
func runWatchdog(deadline time.Duration, ppid int) {
	report := os.NewFile(wdReport, "report")
	buf := make([]byte, 4096)
	ms := int(deadline / time.Millisecond)
	if ms < 1 {
		ms = 1
	}
	for {
		fds := []unix.PollFd{{Fd: wdBeat, Events: unix.POLLIN}}
		n, err := unix.Poll(fds, ms)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return
		}
		if n > 0 {
			if fds[0].Revents&unix.POLLIN != 0 {
				if r, _ := unix.Read(wdBeat, buf); r > 0 {
					continue
				}
			}
			return // the parent is gone (EOF or hang-up)
		}
		if c := rescue(ppid, buf); c > 0 {
			fmt.Fprintf(report, "%d\n", c)
		}
	}
}

// rescue allows every pending event of the parent and every queued one; it returns how many.
func rescue(ppid int, buf []byte) int {
	count := 0
	if ents, err := os.ReadDir("/proc/" + strconv.Itoa(ppid) + "/fd"); err == nil {
		for _, e := range ents {
			n, err := strconv.Atoi(e.Name())
			if err != nil || n <= 2 {
				continue
			}
			if respond(wdFan, int32(n), true) == nil {
				count++
			}
		}
	}
	var recs []Record
	for {
		n, err := unix.Read(wdFan, buf)
		if err != nil || n <= 0 {
			break
		}
		recs, _ = ParseRecords(buf[:n], recs[:0])
		for _, r := range recs {
			if r.FD >= 0 {
				if respond(wdFan, r.FD, true) == nil {
					count++
				}
				unix.Close(int(r.FD))
			}
		}
	}
	return count
}

// watchdogProc is the parent's side.
type watchdogProc struct {
	cmd      *exec.Cmd
	beat     *os.File
	stop     chan struct{}
	wg       sync.WaitGroup
	stopOnce sync.Once
}

// startWatchdog starts this binary again as the watchdog of group fd; rescued gets the
// counts it reports.
func startWatchdog(fd int, deadline time.Duration, rescued func(int)) (*watchdogProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("deny: watchdog: %w", err)
	}
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return nil, fmt.Errorf("deny: watchdog: %w", err)
	}
	fan := os.NewFile(uintptr(dup), "fanotify")
	defer fan.Close()
	beatR, beatW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("deny: watchdog: %w", err)
	}
	defer beatR.Close()
	repR, repW, err := os.Pipe()
	if err != nil {
		beatW.Close()
		return nil, fmt.Errorf("deny: watchdog: %w", err)
	}
	defer repW.Close()
	cmd := exec.Command(exe)
	cmd.Args = []string{"saker-deny-watchdog"}
	cmd.Env = []string{watchdogEnv + "=" + strconv.FormatInt(int64(deadline), 10)}
	cmd.ExtraFiles = []*os.File{fan, beatR, repW}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		beatW.Close()
		repR.Close()
		return nil, fmt.Errorf("deny: watchdog: %w", err)
	}
	w := &watchdogProc{cmd: cmd, beat: beatW, stop: make(chan struct{})}
	w.wg.Add(2)
	go func() { // heartbeats, four per deadline
		defer w.wg.Done()
		t := time.NewTicker(deadline / 4)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
				beatW.Write([]byte{1})
			}
		}
	}()
	go func() {
		defer w.wg.Done()
		defer repR.Close()
		sc := bufio.NewScanner(repR)
		for sc.Scan() {
			if n, err := strconv.Atoi(strings.TrimSpace(sc.Text())); err == nil && n > 0 {
				rescued(n)
			}
		}
	}()
	return w, nil
}

// close ends the heartbeats: the watchdog exits.
func (w *watchdogProc) close() {
	w.stopOnce.Do(func() {
		close(w.stop)
		w.beat.Close()
		w.cmd.Wait()
	})
	w.wg.Wait()
}
