// Package reload hot-reloads the configuration and rules: on SIGHUP, or when a watched file
// (the configuration, a rules file or directory) changes, a new value (saker run: the
// configuration, the compiled ruleset and the output channels) is built beside the running
// one through a callback and swapped in atomically. A build that fails leaves the running
// value in place and is reported (log, and the OnResult callback: the caller counts it and
// raises its own alert; this package knows nothing of alerts or outputs).
//
// A watched directory is followed file by file: a file inside it that is edited in place,
// added or removed triggers a reload, and Result.Changed names it.
//
// The swap is a single atomic pointer store in a Holder, or the caller's Swap function. The
// run loop reads the value between two events and evaluates each event against the value it
// read, so across a reload no event is lost or evaluated twice: every event is evaluated
// exactly once, by the old value or by the new one.
package reload

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Holder holds the running value. Load and Swap are safe for concurrent use.
type Holder[T any] struct{ p atomic.Pointer[T] }

// NewHolder returns a holder of v.
func NewHolder[T any](v *T) *Holder[T] {
	h := &Holder[T]{}
	h.p.Store(v)
	return h
}

// Load returns the running value.
func (h *Holder[T]) Load() *T { return h.p.Load() }

// Swap replaces the running value and returns the previous one.
func (h *Holder[T]) Swap(v *T) *T { return h.p.Swap(v) }

// Trigger says what started a reload.
type Trigger string

// The triggers.
const (
	TriggerSignal Trigger = "signal"
	TriggerFile   Trigger = "file"
	TriggerManual Trigger = "manual"
)

// Result is the outcome of one reload.
type Result struct {
	Trigger  Trigger
	Changed  []string // the watched paths that changed (file trigger)
	Duration time.Duration
	Err      error // nil when the new value was swapped in
	Seq      uint64
}

// Options configure a Reloader.
type Options[T any] struct {
	// Holder receives a value that was built (Holder.Swap), unless Swap is set.
	Holder *Holder[T]
	// Swap, when set, puts a value that was built in effect instead of Holder: e.g. under a
	// lock the run loop holds around each event, retiring the previous value afterwards. It
	// runs on the reloader's goroutine, before OnResult, and must not fail (do everything that
	// can fail in Build).
	Swap func(*T)
	// Build makes the new value (read the configuration and rules files, compile). It runs
	// on the reloader's goroutine, beside the running value.
	Build func() (*T, error)
	// Paths lists the files and directories to watch; it is called again after every
	// reload, so a configuration naming other rules files is followed. Nil: no file watching.
	// A directory is watched with the files inside it (not recursively) that DirFiles
	// accepts.
	Paths func() []string
	// DirFiles selects the files of a watched directory that are watched, by name (every
	// regular file when nil).
	DirFiles func(name string) bool
	// Interval is the polling period for file changes (1s when 0). A change is acted on once
	// the files have been stable for one period, so a file being written is not read half-way.
	Interval time.Duration
	// Signals trigger a reload (SIGHUP when nil; an empty non-nil slice: none).
	Signals []os.Signal
	Logger  *slog.Logger
	// OnResult is called after every reload attempt, on the reloader's goroutine.
	OnResult func(Result)
}

// Reloader runs reloads.
type Reloader[T any] struct {
	opts Options[T]
	log  *slog.Logger
	mu   sync.Mutex // serializes reloads
	seq  atomic.Uint64
	ok   atomic.Uint64
	fail atomic.Uint64
}

// New returns a reloader; Start it.
func New[T any](opts Options[T]) *Reloader[T] {
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.Signals == nil {
		opts.Signals = []os.Signal{syscall.SIGHUP}
	}
	r := &Reloader[T]{opts: opts, log: opts.Logger}
	if r.log == nil {
		r.log = slog.Default()
	}
	return r
}

// Counts returns how many reloads succeeded and failed.
func (r *Reloader[T]) Counts() (ok, failed uint64) { return r.ok.Load(), r.fail.Load() }

// Reload builds a new value now and swaps it in if the build succeeds.
func (r *Reloader[T]) Reload(trigger Trigger, changed ...string) Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	start := time.Now()
	v, err := r.build()
	res := Result{Trigger: trigger, Changed: changed, Duration: time.Since(start), Err: err, Seq: r.seq.Add(1)}
	if err == nil {
		if r.opts.Swap != nil {
			r.opts.Swap(v)
		} else {
			r.opts.Holder.Swap(v)
		}
		r.ok.Add(1)
		r.log.Info("reloaded", "trigger", trigger, "changed", changed, "duration", res.Duration)
	} else {
		r.fail.Add(1)
		r.log.Error("reload failed; the previous configuration and rules keep running", "trigger", trigger, "changed", changed, "err", err)
	}
	if r.opts.OnResult != nil {
		r.opts.OnResult(res)
	}
	return res
}

func (r *Reloader[T]) build() (v *T, err error) {
	defer func() {
		if p := recover(); p != nil {
			v, err = nil, fmt.Errorf("reload: internal error: %v", p)
		}
	}()
	v, err = r.opts.Build()
	if err == nil && v == nil {
		err = fmt.Errorf("reload: build returned no value")
	}
	return v, err
}

// stamp identifies a file's version without reading it.
type stamp struct {
	exists bool
	size   int64
	mtime  int64
	ino    uint64
	sum    uint64 // content hash of a regular file: an edit within one mtime tick that keeps
	// the size (the kernel's file times are coarse) is still seen
}

// maxHashed bounds the files whose content is hashed at each poll.
const maxHashed = 8 << 20

// stamps stamps every path, and the selected files inside the paths that are directories.
func stamps(paths []string, dirFiles func(string) bool) map[string]stamp {
	m := make(map[string]stamp, len(paths))
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			m[p] = stamp{}
			continue
		}
		if st.IsDir() {
			ents, err := os.ReadDir(p)
			if err == nil {
				names := make([]string, 0, len(ents))
				for _, e := range ents {
					if e.Type().IsRegular() || e.Type()&os.ModeSymlink != 0 {
						if dirFiles == nil || dirFiles(e.Name()) {
							names = append(names, e.Name())
						}
					}
				}
				sort.Strings(names)
				for _, n := range names {
					f := filepath.Join(p, n)
					if _, dup := m[f]; !dup {
						m[f] = stampOf(f)
					}
				}
			}
		}
		m[p] = stampOf(p)
	}
	return m
}

func inode(st os.FileInfo) uint64 {
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		return sys.Ino
	}
	return 0
}

func stampOf(p string) stamp {
	{
		st, err := os.Stat(p)
		if err != nil {
			return stamp{}
		}
		if st.IsDir() {
			// its files are stamped one by one; the directory's own times change with files
			// the watch ignores (an editor's swap file)
			return stamp{exists: true, ino: inode(st)}
		}
		s := stamp{exists: true, size: st.Size(), mtime: st.ModTime().UnixNano()}
		s.ino = inode(st)
		if st.Mode().IsRegular() && st.Size() <= maxHashed {
			if b, err := os.ReadFile(p); err == nil {
				h := fnv.New64a()
				h.Write(b)
				s.sum = h.Sum64()
			}
		}
		return s
	}
}

func changedPaths(old, cur map[string]stamp) []string {
	var out []string
	for p, s := range cur {
		if o, ok := old[p]; !ok || o != s {
			out = append(out, p)
		}
	}
	for p := range old {
		if _, ok := cur[p]; !ok {
			out = append(out, p)
		}
	}
	return out
}

// Start registers the signals and starts watching; it returns once signals are registered.
// The reloader stops when ctx is done; wait for it with the returned channel.
func (r *Reloader[T]) Start(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	sigs := make(chan os.Signal, 1)
	if len(r.opts.Signals) > 0 {
		signal.Notify(sigs, r.opts.Signals...)
	}
	var paths []string
	var last map[string]stamp
	if r.opts.Paths != nil {
		paths = r.opts.Paths()
		last = stamps(paths, r.opts.DirFiles)
	}
	go func() {
		defer close(done)
		defer signal.Stop(sigs)
		t := time.NewTicker(r.opts.Interval)
		defer t.Stop()
		var pending []string // changed paths seen, waiting for them to be stable
		// reload stamps the watched files before the build reads them, so that a change made
		// while it runs (or right after OnResult) is seen at the next poll; then it follows
		// the paths the new value names.
		reload := func(trigger Trigger, changed ...string) {
			var snap map[string]stamp
			if r.opts.Paths != nil {
				snap = stamps(paths, r.opts.DirFiles)
			}
			r.Reload(trigger, changed...)
			pending = nil
			if r.opts.Paths == nil {
				return
			}
			old := make(map[string]bool, len(paths))
			for _, p := range paths {
				old[p] = true
			}
			paths = r.opts.Paths()
			last = map[string]stamp{}
			for k, v := range stamps(paths, r.opts.DirFiles) {
				switch s, ok := snap[k]; {
				case ok:
					last[k] = s // as the build saw it
				case old[k] || old[filepath.Dir(k)]:
					// appeared since the snapshot, under a watched path: the next poll
					// reports it
				default:
					last[k] = v // newly watched
				}
			}
			now := make(map[string]bool, len(paths))
			for _, p := range paths {
				now[p] = true
			}
			for k, s := range snap {
				if _, ok := last[k]; !ok && (now[k] || now[filepath.Dir(k)]) {
					last[k] = s // removed since the snapshot: the next poll reports it
				}
			}
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-sigs:
				reload(TriggerSignal)
			case <-t.C:
				if r.opts.Paths == nil {
					continue
				}
				cur := stamps(paths, r.opts.DirFiles)
				if ch := changedPaths(last, cur); len(ch) > 0 {
					pending = append(pending, ch...)
					last = cur
					continue
				}
				if len(pending) > 0 {
					reload(TriggerFile, dedup(pending)...)
				}
			}
		}
	}()
	return done
}

func dedup(s []string) []string {
	seen := map[string]bool{}
	out := s[:0]
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
