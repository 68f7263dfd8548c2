package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/saker-sec/saker/internal/selfmem"
	"github.com/saker-sec/saker/pkg/agent"
	"github.com/saker-sec/saker/pkg/container"
	"github.com/saker-sec/saker/pkg/k8saudit"
	"github.com/saker-sec/saker/pkg/scap"
)

type runOptions struct {
	rules      []string
	capture    string
	json       bool
	first      bool
	configFile string
	overrides  []string

	ringBytes    int
	noProbe      bool
	dropInterval time.Duration
	decodeOnly   bool
	keepPages    bool
	workers      string // --workers: "" when not given (a runOptions literal leaves the configuration's)
}

func init() {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run [-e FILE.scap|AUDIT.json] -r RULES...",
		Short: "Detect threats: live with the eBPF probe, or replaying a capture with -e",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.capture != "" {
				return runReplay(cmd, &o)
			}
			return runLive(cmd, &o)
		},
	}
	cmd.Flags().StringArrayVarP(&o.rules, "rules", "r", nil, "rules file (repeatable; loaded in order); default: Saker's built-in rules")
	cmd.Flags().StringVarP(&o.capture, "events", "e", "", "replay this .scap capture, or this Kubernetes audit log (JSON), instead of watching the host; exit at its end")
	cmd.Flags().BoolVar(&o.json, "json", false, "print alerts as Falco JSON, one object per line")
	cmd.Flags().BoolVar(&o.first, "first-match", false, "stop at the first matching rule of each event (-o rule_matching=first)")
	cmd.Flags().StringVarP(&o.configFile, "config", "c", "", "configuration file (saker.yaml; see `saker config show --defaults`)")
	cmd.Flags().StringArrayVarP(&o.overrides, "option", "o", nil, "override a configuration key: key.path=value")
	cmd.Flags().BoolVar(&o.noProbe, "no-probe", false, "live: no eBPF probe, only the configured webhooks (k8s_audit, admission): a cluster service")
	cmd.Flags().IntVar(&o.ringBytes, "ring-bytes", 0, "live: size of the probe's ring buffer in bytes, rounded up to a power of two (default 2 MiB per online CPU, 4 to 64 MiB)")
	cmd.Flags().DurationVar(&o.dropInterval, "drop-alert-interval", 30*time.Second, "live: at most one event-drop alert per interval")
	cmd.Flags().BoolVar(&o.decodeOnly, "decode-only", false, "with -e: only read and normalize the capture, no state or rules (the floor of a replay, for scripts/bench.sh)")
	cmd.Flags().MarkHidden("decode-only")
	cmd.Flags().BoolVar(&o.keepPages, "keep-startup-pages", false, "live: do not give back the executable's pages once ready (for measuring)")
	cmd.Flags().MarkHidden("keep-startup-pages")
	cmd.Flags().StringVar(&o.workers, "workers", "", "syscall rule-evaluation workers N (as -o pipeline.workers=N; 0: one per CPU; default: the configuration's, 1)")
	rootCmd.AddCommand(cmd)
}

func (o *runOptions) overridesWithFlags() []string {
	ov := append([]string(nil), o.overrides...)
	if o.json {
		ov = append(ov, "json_output=true")
	}
	if o.first {
		ov = append(ov, "rule_matching=first")
	}
	if o.workers != "" {
		ov = append(ov, "pipeline.workers="+o.workers)
	}
	return ov
}

// newAgent starts the agent for the run flags; a bad configuration exits with status 2,
// rules that do not compile with status 1 (the messages on stderr).
func newAgent(cmd *cobra.Command, o *runOptions, replay bool, cm *container.Manager) (*agent.Agent, error) {
	a, err := agent.New(agent.Options{
		ConfigFile: o.configFile, Overrides: o.overridesWithFlags(), RulesFiles: o.rules,
		Replay: replay, Version: version, Stdout: cmd.OutOrStdout(), Stderr: cmd.ErrOrStderr(),
		DropAlertInterval: o.dropInterval, Containers: cm,
	})
	var ce *agent.ConfigError
	var re agent.RulesError
	switch {
	case errors.As(err, &ce):
		fmt.Fprintln(cmd.ErrOrStderr(), err)
		return nil, exitError{2}
	case errors.As(err, &re):
		fmt.Fprintln(cmd.ErrOrStderr(), err)
		return nil, exitError{1}
	}
	return a, err
}

func runReplay(cmd *cobra.Command, o *runOptions) error {
	if o.decodeOnly {
		n, err := scap.Drain(o.capture)
		fmt.Fprintf(cmd.ErrOrStderr(), "events: %d (decoded only)\n", n)
		return err
	}
	var src interface {
		agent.Source
		Close() error
	}
	audit, err := k8saudit.IsAuditFile(o.capture)
	if err != nil {
		return err
	}
	if audit {
		warn := func(err error) { fmt.Fprintln(cmd.ErrOrStderr(), "saker: warning:", err) }
		src, err = agent.OpenAuditFile(o.capture, warn)
	} else {
		src, err = agent.OpenCapture(o.capture)
	}
	if err != nil {
		return err
	}
	defer src.Close()
	// A replay asks no runtime: container metadata comes from the capture's container events.
	cm := container.New(container.Config{Providers: []container.Provider{}})
	defer cm.Close()
	a, err := newAgent(cmd, o, true, cm)
	if err != nil {
		return err
	}
	if err := a.Run(context.Background(), src); err != nil {
		a.Close()
		return err
	}
	err = a.Close()
	if audit {
		ev, al := a.Evaluated()
		fmt.Fprintf(cmd.ErrOrStderr(), "events: %d, alerts: %d\n", ev, al)
	} else {
		fmt.Fprintf(cmd.ErrOrStderr(), "events: %d, alerts: %d\n", a.Detector().Events, a.Detector().Matched)
	}
	return err
}

func runLive(cmd *cobra.Command, o *runOptions) error {
	cm := container.New(container.Config{}) // runtimes found on this host; lookups never block
	defer cm.Close()
	a, err := newAgent(cmd, o, false, cm)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var sources []agent.Source
	if !o.noProbe {
		sources = append(sources, &agent.ProbeSource{RingBytes: o.ringBytes, Log: cmd.ErrOrStderr()})
	}
	if cfg := a.Config(); cfg.K8sAudit.Enabled {
		warn := func(err error) { fmt.Fprintln(cmd.ErrOrStderr(), "saker: k8s audit webhook:", err) }
		wh, err := agent.NewWebhookSource(agent.WebhookConfig(cfg, warn))
		if err != nil {
			a.Close()
			return err
		}
		sources = append(sources, wh)
	}
	if a.Config().Admission.Enabled {
		adm, err := a.NewAdmissionSource()
		if err != nil {
			a.Close()
			return err
		}
		sources = append(sources, adm)
	}
	if len(sources) == 0 {
		a.Close()
		return errors.New("--no-probe: no source left (enable k8s_audit or admission in the configuration)")
	}
	if !o.keepPages {
		go pageOutWhenReady(ctx, a, cmd.ErrOrStderr())
	}
	err = a.Run(ctx, sources...)
	if cerr := a.Close(); err == nil {
		err = cerr
	}
	if err == nil || a.Detector().Events > 0 {
		dr := a.Drops()
		fmt.Fprintf(cmd.ErrOrStderr(), "saker: events: %d, alerts: %d, kernel drops: %d, too big: %d, undecodable: %d\n",
			a.Detector().Events, a.Detector().Matched, dr.Total(agent.WhereKernel), dr.Total(agent.WhereTooBig), dr.Total(agent.WhereDecode))
	}
	return err
}

// pageOutWhenReady gives back the executable's pages that start-up touched (selfmem) once the
// agent is ready: rules compiled, probe attached, host scanned.
func pageOutWhenReady(ctx context.Context, a *agent.Agent, log io.Writer) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for a.Ready() != nil {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
	if _, err := selfmem.PageOut(); err != nil {
		fmt.Fprintln(log, "saker: warning:", err)
	}
}
