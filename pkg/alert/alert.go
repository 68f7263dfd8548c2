// Package alert is what a rule match becomes: the alert record, rendered as Falco renders it
// (a text line `<time>: <Priority> <output>` and Falco's JSON schema, which falcosidekick and
// its integrations read).
package alert

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/rules/engine"
	"github.com/saker-sec/saker/pkg/rules/loader"
)

// Alert is one rule match.
type Alert struct {
	Time         time.Time
	Rule         string
	Priority     loader.Priority
	Source       string
	Tags         []string
	Output       string         // the rendered rule output, without time and priority
	OutputFields map[string]any // field (as written in the output) -> typed value, nil when absent
	Hostname     string
}

// New renders a rule's output for the event that matched it. ts is the event time in
// nanoseconds since the epoch.
func New(r *engine.Rule, ev fields.Event, ts uint64, hostname string) *Alert {
	a := &Alert{
		Time:     time.Unix(0, int64(ts)).UTC(),
		Rule:     r.Name,
		Priority: r.Priority,
		Source:   r.Source,
		Tags:     r.Tags,
		Hostname: hostname,
	}
	a.OutputFields = make(map[string]any, len(r.Output.Fields))
	a.Output = r.Output.Render(ev, a.OutputFields)
	return a
}

// Text is Falco's text line: `HH:MM:SS.nnnnnnnnn: Priority output` (the time in the local zone).
func (a *Alert) Text() string {
	t := a.Time.Local()
	return fmt.Sprintf("%02d:%02d:%02d.%09d: %s %s", t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), a.Priority, a.Output)
}

type falcoJSON struct {
	Hostname     string         `json:"hostname"`
	Output       string         `json:"output"`
	OutputFields map[string]any `json:"output_fields"`
	Priority     string         `json:"priority"`
	Rule         string         `json:"rule"`
	Source       string         `json:"source"`
	Tags         []string       `json:"tags"`
	Time         string         `json:"time"`
}

// MarshalJSON encodes the alert in Falco's JSON schema; like Falco, `output` carries the text
// line (time and priority included) and `time` is RFC 3339 UTC with nanoseconds.
func (a *Alert) MarshalJSON() ([]byte, error) {
	tags := a.Tags
	if tags == nil {
		tags = []string{}
	}
	of := a.OutputFields
	if of == nil {
		of = map[string]any{}
	}
	return json.Marshal(falcoJSON{
		Hostname:     a.Hostname,
		Output:       a.Text(),
		OutputFields: of,
		Priority:     a.Priority.String(),
		Rule:         a.Rule,
		Source:       a.Source,
		Tags:         tags,
		Time:         a.Time.UTC().Format("2006-01-02T15:04:05.000000000Z"),
	})
}

// DropRule is the rule name of the internal alert about events lost between kernel and Saker.
const DropRule = "Falco internal: syscall event drop"

// DropCounts are events lost, by where they were lost.
type DropCounts struct {
	Kernel uint64 // the kernel's ring buffer was full
	TooBig uint64 // a record was larger than the probe sends
	Decode uint64 // a record read failed to decode
	User   uint64 // a user-side queue was full
}

// Sum is every lost event.
func (d DropCounts) Sum() uint64 { return d.Kernel + d.TooBig + d.Decode + d.User }

// Drops is the internal alert Falco raises when syscall events were dropped: interval counts
// the events lost since the previous report (by where), total since the start, and events the
// events seen (read or lost) since the previous report. Like Falco's, n_drops and n_evts are
// the interval's counts and n_drops_buffer_total the ring buffer's drops since the start;
// n_drops_kernel, n_drops_too_big, n_drops_decode and n_drops_user split the interval's
// drops by where they happened.
func Drops(now time.Time, hostname string, interval, total DropCounts, events uint64) *Alert {
	n := interval.Sum()
	return &Alert{
		Time:     now.UTC(),
		Rule:     DropRule,
		Priority: loader.Debug,
		Source:   "internal",
		Tags:     []string{},
		Output:   fmt.Sprintf("Falco internal: syscall event drop. %d system calls dropped in last interval.", n),
		OutputFields: map[string]any{
			"n_drops":              n,
			"n_evts":               events,
			"n_drops_buffer_total": total.Kernel,
			"n_drops_kernel":       interval.Kernel,
			"n_drops_too_big":      interval.TooBig,
			"n_drops_decode":       interval.Decode,
			"n_drops_user":         interval.User,
			"ebpf_enabled":         1,
		},
		Hostname: hostname,
	}
}
