package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/saker-sec/saker/pkg/container"
	"github.com/saker-sec/saker/pkg/detect"
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/rules/compiler"
	"github.com/saker-sec/saker/pkg/scap"
	"github.com/saker-sec/saker/pkg/state"
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

// machineInfo describes this machine for a capture's machine block.
func machineInfo() event.MachineInfo {
	mi := event.MachineInfo{NumCPUs: uint32(runtime.NumCPU()), MaxPID: 4194304}
	mi.Hostname, _ = os.Hostname()
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil {
		mi.MemoryBytes = uint64(si.Totalram) * uint64(si.Unit)
		mi.BootTS = uint64(time.Now().Add(-time.Duration(si.Uptime) * time.Second).UnixNano())
	}
	return mi
}

// containerEvent is the scap container event (code 324, libs' JSON) for a container's
// metadata, so a replay of the capture shows the same container fields. It is marked as read
// in the older non-large layout (272), which the sysdig-compatible writer writes back.
func containerEvent(in *container.Info, ts uint64) *event.Event {
	ev := &event.Event{TS: ts, TID: int64(os.Getpid()), Type: container.EventContainerJSON, RawType: 272,
		Info: &event.Table[container.EventContainerJSON], NParams: 1, Present: 1}
	ev.Params[0] = append(container.EncodeJSON(in), 0)
	return ev
}

func runCapture(cmd *cobra.Command, path, filter string, dur time.Duration, gz bool) error {
	updates := make(chan *container.Info, 1024)
	cm := container.New(container.Config{OnUpdate: func(in *container.Info) {
		select {
		case updates <- in:
		default: // the capture loop is behind: this update is lost, the next one carries it
		}
	}})
	defer cm.Close()
	d := detect.New(state.Options{Containers: cm})
	var keep compiler.Filter
	if filter != "" {
		f, err := compiler.CompileFilter(filter, d.Source)
		if err != nil {
			return fmt.Errorf("filter: %v", err)
		}
		keep = f
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w, err := scap.NewWriter(f, scap.WriterOptions{Gzip: gz, SysdigCompat: true, SynthesizeEnters: true})
	if err != nil {
		return err
	}
	written := 0
	var werr error
	var timer *time.Timer
	start := func(h *hostState) error {
		d.Metadata(&h.machine, h.ifaces, h.users, h.groups, h.threads, h.fds)
		if err := w.WriteMachine(h.machine); err != nil {
			return err
		}
		if err := w.WriteInterfaces(h.ifaces); err != nil {
			return err
		}
		if err := w.WriteUsers(h.users, h.groups); err != nil {
			return err
		}
		if err := w.WriteThreads(h.threads); err != nil {
			return err
		}
		if err := w.WriteFDs(h.fds); err != nil {
			return err
		}
		for _, in := range cm.Snapshot() {
			if err := w.WriteEvent(containerEvent(in, uint64(time.Now().UnixNano()))); err != nil {
				return err
			}
		}
		return nil
	}
	st, err := liveLoop(cmd, nil, 0, start, nil, func(ev *event.Event) {
		if timer == nil && dur > 0 {
			timer = time.AfterFunc(dur, func() { unix.Kill(os.Getpid(), unix.SIGINT) })
		}
	drain:
		for {
			select {
			case in := <-updates:
				if werr == nil {
					werr = w.WriteEvent(containerEvent(in, ev.TS))
				}
			default:
				break drain
			}
		}
		ctx := d.Event(ev)
		if ctx == nil || (keep != nil && !keep(ctx)) || werr != nil {
			return
		}
		if werr = w.WriteEvent(ev); werr == nil {
			written++
		}
	}, nil)
	if err == nil {
		err = werr
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if st != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "saker: %d events written to %s (%d not writable in the sysdig-compatible layout), kernel drops: %d\n",
			written, path, w.Dropped, st.KernelDrops)
	}
	return err
}
