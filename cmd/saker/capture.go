package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/saker-sec/saker/pkg/agent"
)

func init() {
	var out, dur string
	var gz bool
	cmd := &cobra.Command{
		Use:   "capture -w FILE.scap [FILTER] [--duration D]",
		Short: "Record live events to a .scap capture (read by saker events, saker run -e and sysdig)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("no output file (-w FILE.scap)")
			}
			var d time.Duration
			if dur != "" {
				var err error
				if d, err = time.ParseDuration(dur); err != nil {
					return fmt.Errorf("--duration: %v", err)
				}
			}
			filter := ""
			if len(args) == 1 {
				filter = args[0]
			}
			return runCapture(cmd, out, filter, d, gz)
		},
	}
	cmd.Flags().StringVarP(&out, "write", "w", "", "capture file to write")
	cmd.Flags().StringVar(&dur, "duration", "", "stop after this long (e.g. 30s); default: until SIGINT/SIGTERM")
	cmd.Flags().BoolVarP(&gz, "gzip", "z", false, "gzip the capture")
	rootCmd.AddCommand(cmd)
}

func runCapture(cmd *cobra.Command, path, filter string, dur time.Duration, gz bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := agent.Record(ctx, agent.RecordOptions{Path: path, Filter: filter, Duration: dur, Gzip: gz, Stderr: cmd.ErrOrStderr()})
	if err == nil || res.Written > 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "saker: %d events written to %s (%d not writable in the sysdig-compatible layout), kernel drops: %d\n",
			res.Written, path, res.Unwritable, res.KernelDrops)
	}
	return err
}
