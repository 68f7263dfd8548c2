package agent

import (
	"context"
	"time"

	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/state"
)

// Source is a named producer of events: the eBPF probe (ProbeSource), a capture file
// (CaptureSource), the Kubernetes audit webhook (AuditSource), the admission webhook
// (AdmissionSource, which delivers no events and answers reviews itself). Agent.Run runs
// each source on its own goroutine with its own Input.
//
// Run delivers events to in until the source ends (a capture's last event: return nil),
// fails (return the error), or ctx is done (stop taking new events, deliver what is already
// read, return nil).
type Source interface {
	Name() string
	Run(ctx context.Context, in Input) error
}

// Input is where a source delivers. Its methods are called from the source's Run goroutine
// only (a source with concurrent producers, such as HTTP handlers, serialises them itself,
// e.g. through a channel it drains in Run).
type Input interface {
	// LoadHost loads a /proc scan into the state, before the first event.
	LoadHost(h *Host) error
	// LoadCapture loads a capture's metadata (process, fd, user tables) into the state.
	LoadCapture(c state.Capture)
	// Ready says the source is attached and primed; a non-empty msg is printed as
	// "saker: msg; ready" (the line scripts and tests wait for). /readyz waits for it.
	Ready(msg string)
	// Syscall runs one syscall event (scap layout) through the state engine and the syscall
	// rules. Only one source of an agent may deliver syscall events (the state is one).
	Syscall(ev *event.Event)
	// Evaluate runs the rules of another source (e.g. "k8s_audit") on one event of it: code
	// is the event's code in that source's rules index (0 for a source with one event type),
	// ts its time in nanoseconds since the epoch.
	Evaluate(source string, code uint16, ev fields.Event, ts uint64)
	// Idle says the source is about to wait for events: a pending reload can swap, and the
	// health watchdog knows that no progress is expected.
	Idle()
	// Lost counts n events lost at where (and raises the drop alert, rate-limited).
	Lost(where Where, n uint64)
}

// Pending is a Source that can tell how many bytes or events wait to be read: the health
// watchdog counts a source that is idle while events wait as stuck.
type Pending interface {
	Pending() int
}

// Attacher is a Source attached to something that can go away (the probe to the kernel):
// Attached returns why it is not attached, nil while it is. /healthz and /readyz fail while
// a ready source is detached.
type Attacher interface {
	Attached() error
}

// RulesFollower is a Source whose capture depends on the rules (the probe selects syscalls
// in the kernel): RulesChanged is called before Run with the running rules, and after every
// reload that swapped in new ones (on the reloader's goroutine).
type RulesFollower interface {
	RulesChanged(rs *Rules)
}

// ProgramReporter is a source with kernel programs (the probe): the agent's metrics report
// their run-time statistics (saker_probe_prog_run_time_seconds_total and
// saker_probe_prog_run_count_total, by program) from Programs, called at scrape time.
type ProgramReporter interface {
	Programs() (prog []string, runTime []time.Duration, runCount []uint64)
}
