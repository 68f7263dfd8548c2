package agent

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/saker-sec/saker/pkg/container"
	"github.com/saker-sec/saker/pkg/detect"
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/rules/compiler"
	"github.com/saker-sec/saker/pkg/scap"
	"github.com/saker-sec/saker/pkg/state"
)

// RecordOptions configure Record (saker capture).
type RecordOptions struct {
	Path     string        // the capture file to write
	Filter   string        // a filter (Falco condition syntax) an event must match to be written
	Duration time.Duration // stop this long after the first event (0: when ctx is done)
	Gzip     bool
	Stderr   io.Writer // messages (os.Stderr when nil)
}

// RecordResult is what Record wrote.
type RecordResult struct {
	Written     int    // events written
	Unwritable  int    // events the sysdig-compatible layout cannot hold
	KernelDrops uint64 // events the kernel lost (ring buffer full)
}

// Record writes live events to a .scap capture that sysdig reads: the probe (every supported
// syscall), the state engine (so the filter can use process and container fields) and a
// capture writer, which gets the host scan, the containers known at the start and then each
// container's metadata as the runtimes report it. It stops when ctx is done or Duration
// after the first event.
func Record(ctx context.Context, o RecordOptions) (RecordResult, error) {
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	updates := make(chan *container.Info, 1024)
	cm := container.New(container.Config{OnUpdate: func(in *container.Info) {
		select {
		case updates <- in:
		default: // the capture loop is behind: this update is lost, the next one carries it
		}
	}})
	defer cm.Close()
	d := detect.New(state.Options{Containers: cm})
	rec := &recorder{d: d, cm: cm, updates: updates, dur: o.Duration}
	if o.Filter != "" {
		f, err := compiler.CompileFilter(o.Filter, d.Source)
		if err != nil {
			return RecordResult{}, fmt.Errorf("filter: %v", err)
		}
		rec.keep = f
	}
	f, err := os.Create(o.Path)
	if err != nil {
		return RecordResult{}, err
	}
	defer f.Close()
	if rec.w, err = scap.NewWriter(f, scap.WriterOptions{Gzip: o.Gzip, SysdigCompat: true, SynthesizeEnters: true}); err != nil {
		return RecordResult{}, err
	}
	ctx, rec.cancel = context.WithCancel(ctx)
	defer rec.cancel()
	src := &ProbeSource{All: true, Log: o.Stderr}
	rec.stderr = o.Stderr
	err = src.Run(ctx, rec)
	if rec.timer != nil {
		rec.timer.Stop()
	}
	if err == nil {
		err = rec.werr
	}
	if cerr := rec.w.Close(); err == nil {
		err = cerr
	}
	return RecordResult{Written: rec.written, Unwritable: rec.w.Dropped, KernelDrops: src.Stats().KernelDrops}, err
}

// recorder is Record's Input: the state engine and the capture writer.
type recorder struct {
	d       *detect.Detector
	cm      *container.Manager
	w       *scap.Writer
	keep    compiler.Filter
	updates chan *container.Info
	dur     time.Duration
	timer   *time.Timer
	cancel  context.CancelFunc
	stderr  io.Writer
	written int
	werr    error
}

func (r *recorder) LoadHost(h *Host) error {
	r.d.Metadata(&h.Machine, h.Interfaces, h.Users, h.Groups, h.Threads, h.FDs)
	if err := r.w.WriteMachine(h.Machine); err != nil {
		return err
	}
	if err := r.w.WriteInterfaces(h.Interfaces); err != nil {
		return err
	}
	if err := r.w.WriteUsers(h.Users, h.Groups); err != nil {
		return err
	}
	if err := r.w.WriteThreads(h.Threads); err != nil {
		return err
	}
	if err := r.w.WriteFDs(h.FDs); err != nil {
		return err
	}
	for _, in := range r.cm.Snapshot() {
		if err := r.container(in, uint64(time.Now().UnixNano())); err != nil {
			return err
		}
	}
	return nil
}

// container writes a container's metadata event and says so on stderr (a line tests and
// scripts can wait for before stopping the capture).
func (r *recorder) container(in *container.Info, ts uint64) error {
	if err := r.w.WriteEvent(containerEvent(in, ts)); err != nil {
		return err
	}
	fmt.Fprintf(r.stderr, "saker: capture: container %s (%s) metadata recorded\n", in.ID, in.Name)
	return nil
}

func (r *recorder) LoadCapture(state.Capture) {}

func (r *recorder) Ready(msg string) { fmt.Fprintf(r.stderr, "saker: %s; ready\n", msg) }

func (r *recorder) Syscall(ev *event.Event) {
	if r.timer == nil && r.dur > 0 {
		r.timer = time.AfterFunc(r.dur, r.cancel)
	}
drain:
	for {
		select {
		case in := <-r.updates:
			if r.werr == nil {
				r.werr = r.container(in, ev.TS)
			}
		default:
			break drain
		}
	}
	ctx := r.d.Event(ev)
	if ctx == nil || (r.keep != nil && !r.keep(ctx)) || r.werr != nil {
		return
	}
	if r.werr = r.w.WriteEvent(ev); r.werr == nil {
		r.written++
	}
}

func (r *recorder) Evaluate(string, uint16, fields.Event, uint64) {}
func (r *recorder) Idle()                                         {}
func (r *recorder) Lost(Where, uint64)                            {}

// containerEvent is the scap container event (code 324, libs' JSON) for a container's
// metadata, so a replay of the capture shows the same container fields. It is marked as read
// in the older non-large layout (272), which the sysdig-compatible writer writes back.
func containerEvent(in *container.Info, ts uint64) *event.Event {
	ev := &event.Event{TS: ts, TID: int64(os.Getpid()), Type: container.EventContainerJSON, RawType: 272,
		Info: &event.Table[container.EventContainerJSON], NParams: 1, Present: 1}
	ev.Params[0] = append(container.EncodeJSON(in), 0)
	return ev
}
