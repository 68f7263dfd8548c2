package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/saker-sec/saker/pkg/container"
	"github.com/saker-sec/saker/pkg/detect"
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/scap"
	"github.com/saker-sec/saker/pkg/state"
)

type runOptions struct {
	rules      []string
	capture    string
	json       bool
	first      bool
	configFile string
	overrides  []string

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
	cmd.Flags().BoolVar(&o.first, "first-match", false, "stop at the first matching rule of each event (-o rule_matching=first)")
	cmd.Flags().StringVarP(&o.configFile, "config", "c", "", "configuration file (saker.yaml; see `saker config show --defaults`)")
	cmd.Flags().StringArrayVarP(&o.overrides, "option", "o", nil, "override a configuration key: key.path=value")
	cmd.Flags().IntVar(&o.ringBytes, "ring-bytes", 0, "live: size of the probe's ring buffer (default 64 MiB)")
	cmd.Flags().DurationVar(&o.dropInterval, "drop-alert-interval", 30*time.Second, "live: at most one event-drop alert per interval")
	rootCmd.AddCommand(cmd)
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
	rn, err := newRunner(cmd, o, d, true)
	if err != nil {
		return err
	}
	if err := replay(r, rn, d, nil); err != nil {
		rn.close()
		return err
	}
	err = rn.close()
	fmt.Fprintf(cmd.ErrOrStderr(), "events: %d, alerts: %d\n", d.Events, d.Matched)
	return err
}

// replay feeds every event of a capture to rn; before, when set, runs before each event
// (tests reload the configuration there).
func replay(r *scap.Reader, rn *runner, d *detect.Detector, before func(*event.Event)) error {
	r.OnMetadata = func(r *scap.Reader) { d.LoadCapture(r) }
	var ev event.Event
	for {
		err := r.Next(&ev)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if before != nil {
			rn.release() // the hook may reload (tests)
			before(&ev)
		}
		rn.event(&ev)
	}
}
