package agent

import (
	"context"

	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/state"
)

// Sink receives every alert: rule matches and internal alerts (drops, failed reloads), after
// the configured output channels got it. Sinks live as long as the agent (a reload replaces
// the output channels, not the sinks): a response engine, an incident store, a console
// uplink. Alert is called on the goroutine that raised the alert (a source's, or the
// reloader's), possibly from several at once, and must not block: a sink that does slow work
// queues it (a blocked sink stalls the event loop, which /healthz reports).
type Sink interface {
	Name() string
	Alert(a *alert.Alert)
}

// EventSink is a Sink that also wants every syscall event, after the state engine and the
// rules saw it (behaviour profiles). ctx is the event's state (nil when the normalizer held
// the event back). Event is called on the syscall source's goroutine; the event and ctx are
// only valid during the call.
type EventSink interface {
	Sink
	Event(ev *event.Event, ctx *state.Context)
}

// StateSink is a Sink that wants the state of the syscall event behind an alert (the
// response engine finds the process and container to act on there). EventAlert replaces
// Alert for the alerts of syscall rules: it is called on the syscall source's goroutine,
// after the EventSinks saw the event (st and ctx are only valid during the call); every
// other alert still goes to Alert.
type StateSink interface {
	Sink
	EventAlert(a *alert.Alert, st *state.Engine, ctx *state.Context)
}

// SinkCloser is a Sink with something to flush at shutdown: Agent.Close calls Close after
// the sources stopped, within the configured flush timeout.
type SinkCloser interface {
	Sink
	Close(ctx context.Context) error
}
