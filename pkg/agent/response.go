package agent

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/config"
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/response"
	"github.com/saker-sec/saker/pkg/state"
)

// ResponseSink runs the response engine (pkg/response) on the agent's alerts: it sees every
// syscall event (the per-workload ring snapshots read) and, on the syscall source's
// goroutine right after, the alerts of that event with its state (the process and container
// to act on). Alerts of other sources reach it without state. Its own alerts (source
// "response") go back through Agent.Send, to the outputs; the engine ignores them.
//
// The agent starts it when response.policy_file is set; a reload reads the policy again.
type ResponseSink struct {
	rs *response.Started
}

func responseConfig(c config.Response) response.Config {
	return response.Config{PolicyFile: c.PolicyFile, DryRun: c.DryRun, NeverKill: c.NeverKill,
		DockerSocket: c.DockerSocket, ContainerdSocket: c.ContainerdSocket, SnapshotDir: c.SnapshotDir,
		NetworkIsolation: c.NetworkIsolation, Kubeconfig: c.Kubeconfig, RingSeconds: c.RingSeconds,
		RingEvents: c.RingEvents, RingMiB: c.RingMiB, RingWorkloads: c.RingWorkloads, Queue: c.Queue, Workers: c.Workers}
}

// startResponse starts the engine of c's response section, its metrics on the agent's
// registry (nil, nil when no policy_file is set).
func (a *Agent) startResponse(c *config.Config) (*ResponseSink, error) {
	if c.Response.PolicyFile == "" {
		return nil, nil
	}
	m := response.NewMetrics()
	rs, err := response.Start(responseConfig(c.Response), a.Send, m, slog.Default())
	if err != nil {
		return nil, fmt.Errorf("response: %w", err)
	}
	for _, col := range m.Collectors() {
		if err := a.m.Registry.Register(col); err != nil {
			rs.Stop(time.Second)
			return nil, fmt.Errorf("response: metrics: %w", err)
		}
	}
	return &ResponseSink{rs: rs}, nil
}

// Name is "response".
func (s *ResponseSink) Name() string { return "response" }

// Engine is the running engine.
func (s *ResponseSink) Engine() *response.Started { return s.rs }

// Event feeds the ring.
func (s *ResponseSink) Event(ev *event.Event, ctx *state.Context) { s.rs.Event(ev, ctx) }

// EventAlert decides on a syscall alert with its event's state.
func (s *ResponseSink) EventAlert(al *alert.Alert, st *state.Engine, ctx *state.Context) {
	s.rs.Alert(al, st, ctx)
}

// Alert decides on an alert without state (k8s_audit, internal): only actions that need no
// process (webhooks, programs, k8s_*) can act on it.
func (s *ResponseSink) Alert(al *alert.Alert) { s.rs.Alert(al, nil, nil) }

// Close lets the queued actions finish within ctx's deadline, then cancels the rest.
func (s *ResponseSink) Close(ctx context.Context) error {
	d := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		d = time.Until(dl)
	}
	return s.rs.Stop(d)
}
