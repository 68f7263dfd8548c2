package main

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/container"
	"github.com/saker-sec/saker/pkg/detect"
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/rules/engine"
	"github.com/saker-sec/saker/pkg/rules/loader"
	"github.com/saker-sec/saker/pkg/scap"
	"github.com/saker-sec/saker/pkg/state"
	defaultrules "github.com/saker-sec/saker/rules"
)

type runOptions struct {
	rules   []string
	capture string
	json    bool
	first   bool

	ringBytes    int
	dropInterval time.Duration
}

func init() {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run [-e FILE.scap] -r RULES...",
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
	cmd.Flags().StringVarP(&o.capture, "events", "e", "", "replay this .scap capture instead of watching the host; exit at its end")
	cmd.Flags().BoolVar(&o.json, "json", false, "print alerts as Falco JSON, one object per line")
	cmd.Flags().BoolVar(&o.first, "first-match", false, "stop at the first matching rule of each event (rule_matching: first)")
	cmd.Flags().IntVar(&o.ringBytes, "ring-bytes", 0, "live: size of the probe's ring buffer (default 64 MiB)")
	cmd.Flags().DurationVar(&o.dropInterval, "drop-alert-interval", 30*time.Second, "live: at most one event-drop alert per interval")
	rootCmd.AddCommand(cmd)
}

// alertPrinter writes alerts as Falco text lines or JSON lines.
func alertPrinter(w io.Writer, asJSON bool) func(*alert.Alert) {
	enc := json.NewEncoder(w)
	return func(a *alert.Alert) {
		if asJSON {
			_ = enc.Encode(a)
			return
		}
		fmt.Fprintln(w, a.Text())
	}
}

// compileFor compiles the rules files (Saker's default rules when none is given) against the
// detector's sources and installs the ruleset.
func compileFor(cmd *cobra.Command, d *detect.Detector, paths []string) error {
	var rs *engine.Ruleset
	var errs []loader.Message
	if len(paths) == 0 {
		rs, errs, _ = engine.Load(defaultrules.Files(), engine.Options{Sources: d.Sources()})
	} else {
		rs, errs, _ = engine.LoadFiles(paths, engine.Options{Sources: d.Sources()})
	}
	for _, e := range errs {
		fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s\n", e.Pos, messageText(e))
	}
	if rs == nil {
		return exitError{1}
	}
	d.Rules = rs
	return nil
}

func runReplay(cmd *cobra.Command, o *runOptions) error {
	r, err := scap.Open(o.capture)
	if err != nil {
		return err
	}
	defer r.Close()
	// A replay asks no runtime: container metadata comes from the capture's container events.
	cm := container.New(container.Config{Providers: []container.Provider{}})
	defer cm.Close()
	d := detect.New(state.Options{Containers: cm})
	if err := compileFor(cmd, d, o.rules); err != nil {
		return err
	}
	d.First = o.first
	d.Emit = alertPrinter(cmd.OutOrStdout(), o.json)
	r.OnMetadata = func(r *scap.Reader) {
		var mi *event.MachineInfo
		if m, ok := r.Machine(); ok {
			mi = &m
		}
		d.Metadata(mi, r.Interfaces(), r.Users(), r.Groups(), r.Threads(), r.FDs())
	}
	var ev event.Event
	for {
		err := r.Next(&ev)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		d.Event(&ev)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "events: %d, alerts: %d\n", d.Events, d.Matched)
	return nil
}
