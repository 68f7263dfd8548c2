package incident

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

const timeFormat = "2006-01-02T15:04:05Z"

// WriteTable lists incidents one a line: id, pod (or service account), user, verbs, alerts,
// severity, first and last time (UTC).
func WriteTable(w io.Writer, list []*Incident) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPOD\tUSER\tVERBS\tALERTS\tSEVERITY\tFIRST\tLAST")
	for _, in := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", in.ID, dash(in.Subject()), dash(in.User), dash(strings.Join(in.Verbs, ",")),
			in.Alerts, dash(in.Severity), in.First.UTC().Format(timeFormat), in.Last.UTC().Format(timeFormat))
	}
	return tw.Flush()
}

// WriteJSON writes incidents as one JSON array.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// WriteDetail writes one incident with its chain, a step a line.
func WriteDetail(w io.Writer, in *Incident) error {
	fmt.Fprintf(w, "incident %s (%s)\n", in.ID, in.Kind)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "  %-16s %s\n", k+":", v)
		}
	}
	row("pod", in.PodName())
	row("pod uid", in.PodUID)
	row("service account", in.ServiceAccount)
	var owners []string
	for _, o := range in.Owners {
		owners = append(owners, o.Kind+"/"+o.Name)
	}
	row("owners", strings.Join(owners, ", "))
	row("user", in.User)
	row("verbs", strings.Join(in.Verbs, ", "))
	row("alerts", fmt.Sprint(in.Alerts))
	row("severity", in.Severity)
	row("first", in.First.UTC().Format(time.RFC3339Nano))
	row("last", in.Last.UTC().Format(time.RFC3339Nano))
	fmt.Fprintln(w, "  chain:")
	for _, s := range in.Steps {
		kind := "api"
		if s.Priority != "" {
			kind = s.Priority
		}
		fmt.Fprintf(w, "    %s  %-8s %-10s %s\n", s.Time.UTC().Format("15:04:05.000"), kind, s.Source, s.What)
	}
	if in.Dropped > 0 {
		fmt.Fprintf(w, "  (%d steps left out)\n", in.Dropped)
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
