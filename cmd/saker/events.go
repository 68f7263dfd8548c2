package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/rules/compiler"
	"github.com/saker-sec/saker/pkg/scap"
	"github.com/saker-sec/saker/pkg/state"
	"github.com/saker-sec/saker/pkg/sysfields"
)

func init() {
	var (
		format  string
		asJSON  bool
		limit   uint64
		outPath string
		sysdig  bool
	)
	cmd := &cobra.Command{
		Use:   "events FILE [FILTER]",
		Short: "Print the events of a capture, sysdig style",
		Long: `Reads a .scap capture, rebuilds process and fd state, and prints the events that match
FILTER (a Falco/sysdig filter expression) the way sysdig -r FILE -p FORMAT does.

evt.num counts every event of the file, shown or not; procinfo and state-only events are never
shown. Without -p the line is sysdig's default:
  ` + sysfields.DefaultFormat + `
A format that does not start with '*' skips events for which any of its fields has no value.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			filter := ""
			if len(args) == 2 {
				filter = args[1]
			}
			if format == "" {
				format = sysfields.DefaultFormat
			}
			return runEvents(cmd.OutOrStdout(), args[0], filter, eventsOptions{
				format: format, json: asJSON, limit: limit, out: outPath, sysdig029: sysdig,
			})
		},
	}
	cmd.Flags().StringVarP(&format, "print", "p", "", "output format (sysdig -p syntax: %field, %field[arg], leading * prints events with absent fields)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per event with the format's fields")
	cmd.Flags().Uint64VarP(&limit, "count", "n", 0, "stop after reading N events of the file (0: all)")
	cmd.Flags().StringVarP(&outPath, "write", "w", "", "write the matching events to this .scap file instead of printing them")
	cmd.Flags().BoolVar(&sysdig, "sysdig-029", false, "behave like sysdig 0.29.3: skip (and do not number) events with codes it does not know (>= 336), render params as recorded (no enter params merged into exits), treat mmap as not using a fd")
	rootCmd.AddCommand(cmd)
}

type eventsOptions struct {
	format string
	json   bool
	limit  uint64
	out    string
	// sysdig029 skips (and does not number) events sysdig 0.29.3 does not know.
	sysdig029 bool
}

// runEvents is `saker events`: scap reader → normalizer → state → filter → print or write.
func runEvents(stdout io.Writer, path, filter string, o eventsOptions) error {
	r, err := scap.Open(path)
	if err != nil {
		return err
	}
	defer r.Close()
	if err := r.ReadMetadata(); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	st := state.New(state.Options{})
	st.LoadCapture(r)
	src := sysfields.NewSourceWith(st, sysfields.Options{Sysdig029: o.sysdig029})
	psrc := printSource(st, src, o.sysdig029)

	var match compiler.Filter
	if strings.TrimSpace(filter) != "" {
		match, err = compiler.CompileFilter(filter, src)
		if err != nil {
			return fmt.Errorf("filter: %w", err)
		}
	}
	fm, err := sysfields.NewFormatter(o.format, psrc)
	if err != nil {
		return err
	}

	var w *scap.Writer
	var outFile *os.File
	if o.out != "" {
		outFile, err = os.Create(o.out)
		if err != nil {
			return err
		}
		defer outFile.Close()
		w, err = scap.NewWriter(outFile, scap.WriterOptions{})
		if err != nil {
			return err
		}
		if err := w.WriteMetadata(r); err != nil {
			return err
		}
	}

	bw := bufio.NewWriterSize(stdout, 64<<10)
	defer bw.Flush()
	var (
		ev   event.Event
		norm event.Normalizer
		line strings.Builder
		num  uint64
	)
	sections := r.Sections()
	for {
		if err := r.Next(&ev); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return err
		}
		if r.Sections() != sections {
			// a concatenated capture: its own metadata, a fresh state
			sections = r.Sections()
			st = state.New(state.Options{})
			st.LoadCapture(r)
			norm.Reset()
			src = sysfields.NewSourceWith(st, sysfields.Options{Sysdig029: o.sysdig029})
			psrc = printSource(st, src, o.sysdig029)
			if match != nil {
				if match, err = compiler.CompileFilter(filter, src); err != nil {
					return err
				}
			}
			if fm, err = sysfields.NewFormatter(o.format, psrc); err != nil {
				return err
			}
		}
		if o.sysdig029 {
			if ev.RawType >= scap.SysdigMaxCode {
				continue
			}
			num++
			ev.Num = num
		}
		if !norm.Next(&ev) {
			continue
		}
		ctx := st.Process(&ev)
		src.Track(ctx)
		if psrc != src {
			psrc.Track(ctx)
		}
		if o.limit > 0 && ev.Num > o.limit {
			break
		}
		// sysdig runs its filter on every event it numbers, shown or not: fields with a state
		// of their own (util.cnt, thread.exectime, ...) advance on hidden events too
		if match != nil && !match(ctx) || hidden(&ev) {
			continue
		}
		if w != nil {
			if err := w.WriteEvent(&ev); err != nil {
				return err
			}
			continue
		}
		if o.json {
			b, ok := fm.JSON(ctx)
			if !ok {
				continue
			}
			bw.Write(b)
			bw.WriteByte('\n')
			continue
		}
		line.Reset()
		s, ok := fm.AppendFormat(&line, ctx)
		if !ok {
			continue
		}
		bw.WriteString(s)
		bw.WriteByte('\n')
	}
	if w != nil {
		if err := w.Close(); err != nil {
			return err
		}
		return outFile.Close()
	}
	return bw.Flush()
}

// printSource is the source the output format reads: src, or with sysdig029 a second source
// over the same state that prints the few fields sysdig 0.29.3 prints otherwise than its
// filters compare them (sysfields.Options.Print029).
func printSource(st *state.Engine, src *sysfields.Source, sysdig029 bool) *sysfields.Source {
	if !sysdig029 {
		return src
	}
	return sysfields.NewSourceWith(st, sysfields.Options{Sysdig029: true, Print029: true})
}

// hidden reports events sysdig never shows: state-only events, procinfo, scapevent and
// container metadata events.
func hidden(ev *event.Event) bool {
	if ev.Flags&event.FlagStateOnly != 0 || ev.Info == nil {
		return true
	}
	switch ev.Info.Name {
	case "procinfo", "container", "scapevent":
		return true
	}
	return false
}
