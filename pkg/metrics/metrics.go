// Package metrics exposes Saker's operational metrics in the Prometheus format (with
// prometheus/client_golang) and serves them, with /healthz, /readyz and /version, on an HTTP
// endpoint that is off by default, on loopback unless configured otherwise, and
// authenticated by a bearer token file and/or client certificates when configured (Serve).
//
// The run loop updates the metrics: it adds to EventsRead, gives SetDrops the function that
// reads its drop counters (by where the events were lost), calls SetState with the state engine's Stats now and then (the state engine is not
// safe for concurrent use, so the scrape never reads it), and passes ObserveAlert to the
// output manager (output.Options.Observe). Rule loads and reloads are reported with
// ObserveRulesLoad; output queues are read at scrape time from the manager (WatchOutputs,
// and SwapOutputs when a reload replaced it). The registry lives as long as the process: a
// reload, even one that moves the web server, keeps every counter.
package metrics

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/output"
	"github.com/saker-sec/saker/pkg/state"
)

// Metrics holds Saker's metrics and their registry.
type Metrics struct {
	Registry *prometheus.Registry
	Version  string

	// EventsRead counts events read from the source (probe ring buffer or capture).
	EventsRead atomic.Uint64

	alerts        *prometheus.CounterVec
	ruleLoad      prometheus.Gauge
	rulesEnabled  prometheus.Gauge
	reloads       *prometheus.CounterVec
	reloadFailing prometheus.Gauge

	mu      sync.Mutex
	drops   func() ([]string, []uint64)
	progs   func() ([]string, []time.Duration, []uint64)
	st      state.Stats
	haveSt  bool
	outputs []*output.Manager
}

// New returns metrics registered on a new registry, with the process (CPU, memory, file
// descriptors) and Go runtime collectors.
func New(version string) *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry(), Version: version}
	m.alerts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "saker_alerts_total", Help: "Alerts raised, by rule, priority and source.",
	}, []string{"rule", "priority", "source"})
	m.ruleLoad = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "saker_rules_load_duration_seconds", Help: "Time the last successful rules load took (read, compile, index).",
	})
	m.rulesEnabled = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "saker_rules_enabled", Help: "Enabled rules in the running ruleset.",
	})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "saker_rules_reloads_total", Help: "Rules reloads, by result (success, failure).",
	}, []string{"result"})
	m.reloadFailing = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "saker_rules_reload_failing", Help: "1 when the last reload failed and older rules are still running.",
	})
	m.reloads.WithLabelValues("success")
	m.reloads.WithLabelValues("failure")
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "saker_build_info", Help: "Saker's version, as a label; the value is 1.",
		ConstLabels: prometheus.Labels{"version": version},
	})
	build.Set(1)
	m.Registry.MustRegister(m.alerts, m.ruleLoad, m.rulesEnabled, m.reloads, m.reloadFailing, build,
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector(),
		&collector{m: m})
	return m
}

// ObserveAlert counts an alert (give it to output.Options.Observe).
func (m *Metrics) ObserveAlert(a *alert.Alert) {
	m.alerts.WithLabelValues(a.Rule, a.Priority.String(), a.Source).Inc()
}

// ObserveRulesLoad records a rules load: its duration and the number of enabled rules when it
// succeeded; reload says whether it replaced running rules (counted in reloads).
func (m *Metrics) ObserveRulesLoad(d time.Duration, enabled int, err error, reload bool) {
	if err == nil {
		m.ruleLoad.Set(d.Seconds())
		m.rulesEnabled.Set(float64(enabled))
		m.reloadFailing.Set(0)
	} else {
		m.reloadFailing.Set(1)
	}
	if reload {
		if err == nil {
			m.reloads.WithLabelValues("success").Inc()
		} else {
			m.reloads.WithLabelValues("failure").Inc()
		}
	}
}

// SetDrops makes the scrape report saker_events_dropped_total from f: the cumulative counts
// of events lost, by where (f returns the label values and their counts, in the same order).
func (m *Metrics) SetDrops(f func() (where []string, n []uint64)) {
	m.mu.Lock()
	m.drops = f
	m.mu.Unlock()
}

// SetPrograms makes the scrape report saker_probe_prog_run_time_seconds_total and
// saker_probe_prog_run_count_total from f: the kernel's run-time statistics of the probe's
// attached programs (names, total run time, run count, in the same order; empty while no
// probe is attached). The kernel counts only while /proc/sys/kernel/bpf_stats_enabled is 1.
func (m *Metrics) SetPrograms(f func() (prog []string, runTime []time.Duration, runCount []uint64)) {
	m.mu.Lock()
	m.progs = f
	m.mu.Unlock()
}

// SetState records a snapshot of the state engine's table sizes and counters.
func (m *Metrics) SetState(s state.Stats) {
	m.mu.Lock()
	m.st, m.haveSt = s, true
	m.mu.Unlock()
}

// WatchOutputs makes the scrape report the manager's queues.
func (m *Metrics) WatchOutputs(mgr *output.Manager) {
	m.mu.Lock()
	m.outputs = append(m.outputs, mgr)
	m.mu.Unlock()
}

// SwapOutputs makes the scrape report mgr's queues instead of old's (a configuration reload
// replaced the output manager; old is appended to nothing when it was not watched). The
// channel counters continue: a manager built to replace another shares the counters of its
// channels (output.Options.Previous).
func (m *Metrics) SwapOutputs(old, mgr *output.Manager) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, o := range m.outputs {
		if o == old {
			m.outputs[i] = mgr
			return
		}
	}
	m.outputs = append(m.outputs, mgr)
}

// collector reports the values kept outside client_golang's types, read at scrape time.
type collector struct{ m *Metrics }

var (
	descEventsRead    = prometheus.NewDesc("saker_events_read_total", "Events read from the event source.", nil, nil)
	descEventsDropped = prometheus.NewDesc("saker_events_dropped_total", "Events lost before evaluation, by where they were lost (kernel: ring buffer full; too_big: records larger than the probe sends; decode: records that failed to decode; user: user-side queues full).", []string{"where"}, nil)
	descQueueDepth    = prometheus.NewDesc("saker_output_queue_depth", "Alerts waiting in a channel's queue.", []string{"channel"}, nil)
	descQueueCap      = prometheus.NewDesc("saker_output_queue_capacity", "Capacity of a channel's queue.", []string{"channel"}, nil)
	descOutSent       = prometheus.NewDesc("saker_output_sent_total", "Alerts delivered by a channel.", []string{"channel"}, nil)
	descOutDropped    = prometheus.NewDesc("saker_output_dropped_total", "Alerts dropped because a channel's queue was full.", []string{"channel"}, nil)
	descOutFailed     = prometheus.NewDesc("saker_output_failed_total", "Alerts a channel failed to deliver (after retries).", []string{"channel"}, nil)
	descStateThreads  = prometheus.NewDesc("saker_state_threads", "Threads in the state table.", nil, nil)
	descStateFDTables = prometheus.NewDesc("saker_state_fd_tables", "Distinct file descriptor tables.", nil, nil)
	descStateFDs      = prometheus.NewDesc("saker_state_fds", "File descriptors in all tables.", nil, nil)
	descStateUsers    = prometheus.NewDesc("saker_state_users", "Users in the user table.", nil, nil)
	descStateGroups   = prometheus.NewDesc("saker_state_groups", "Groups in the group table.", nil, nil)
	descStateEvicted  = prometheus.NewDesc("saker_state_evicted_total", "State entries dropped because a table was full, by table (threads, fds, users).", []string{"table"}, nil)
	descProgRunTime   = prometheus.NewDesc("saker_probe_prog_run_time_seconds_total", "Time the probe's attached BPF programs ran in the kernel (tail-called encoders included), by program; counted only while kernel.bpf_stats_enabled is 1.", []string{"prog"}, nil)
	descProgRunCount  = prometheus.NewDesc("saker_probe_prog_run_count_total", "Runs of the probe's attached BPF programs, by program; counted only while kernel.bpf_stats_enabled is 1.", []string{"prog"}, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descEventsRead, descEventsDropped, descQueueDepth, descQueueCap, descOutSent,
		descOutDropped, descOutFailed, descStateThreads, descStateFDTables, descStateFDs, descStateUsers, descStateGroups, descStateEvicted,
		descProgRunTime, descProgRunCount} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	counter(descEventsRead, m.EventsRead.Load())
	m.mu.Lock()
	st, have, outs, drops, progs := m.st, m.haveSt, m.outputs, m.drops, m.progs
	m.mu.Unlock()
	if progs != nil {
		names, rt, rc := progs()
		for i := range names {
			ch <- prometheus.MustNewConstMetric(descProgRunTime, prometheus.CounterValue, rt[i].Seconds(), names[i])
			counter(descProgRunCount, rc[i], names[i])
		}
	}
	if drops != nil {
		where, n := drops()
		for i := range where {
			counter(descEventsDropped, n[i], where[i])
		}
	}
	seen := map[string]bool{}
	for _, o := range outs {
		for _, s := range o.Stats() {
			if seen[s.Name] {
				continue // one series per channel name
			}
			seen[s.Name] = true
			gauge(descQueueDepth, s.Depth, s.Name)
			gauge(descQueueCap, s.Capacity, s.Name)
			counter(descOutSent, s.Sent, s.Name)
			counter(descOutDropped, s.Dropped, s.Name)
			counter(descOutFailed, s.Failed, s.Name)
		}
	}
	if have {
		gauge(descStateThreads, st.Threads)
		gauge(descStateFDTables, st.FDTables)
		gauge(descStateFDs, st.FDs)
		gauge(descStateUsers, st.Users)
		gauge(descStateGroups, st.Groups)
		counter(descStateEvicted, st.ThreadsEvicted, "threads")
		counter(descStateEvicted, st.FDsEvicted, "fds")
		counter(descStateEvicted, st.UsersEvicted, "users")
	}
}
