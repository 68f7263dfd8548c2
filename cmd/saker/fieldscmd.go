package main

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"

	"github.com/spf13/cobra"

	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/incident"
	"github.com/saker-sec/saker/pkg/sysfields"
)

// fieldCatalogs are the fields each event source serves, in catalogue order (what rules and
// outputs may name; the same catalogues as ruleSources).
func fieldCatalogs() map[string][]fields.Info {
	sys := append(append([]fields.Info(nil), sysfields.Catalog().Fields()...), incident.Fields...)
	k8s := fields.K8sAuditCatalog().Fields()
	return map[string][]fields.Info{"syscall": sys, "k8s_audit": k8s, "k8s_admission": k8s}
}

// argForm is how a field takes its argument, for the listing.
func argForm(f fields.Info) string {
	if f.Arg == fields.ArgNone {
		return ""
	}
	form := "[KEY]"
	switch {
	case f.ArgIndex && f.ArgKey:
		form = "[N|KEY]"
	case f.ArgIndex:
		form = "[N]"
	}
	if f.Arg == fields.ArgAllowed {
		return "optional " + form
	}
	return form
}

func init() {
	var source string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "fields [PATTERN]",
		Short: "List the fields rules and outputs can use, with their types and descriptions",
		Long: "List the fields of an event source (syscall, k8s_audit, k8s_admission) with their type,\n" +
			"argument form and description. PATTERN (a glob such as 'proc.*') keeps the fields it matches.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			infos, ok := fieldCatalogs()[source]
			if !ok {
				return fmt.Errorf("unknown source %q (syscall, k8s_audit, k8s_admission)", source)
			}
			pattern := "*"
			if len(args) == 1 {
				pattern = args[0]
				if _, err := path.Match(pattern, ""); err != nil {
					return fmt.Errorf("bad pattern %q: %v", pattern, err)
				}
			}
			type row struct {
				Name        string `json:"name"`
				Type        string `json:"type"`
				Arg         string `json:"arg,omitempty"`
				List        bool   `json:"list,omitempty"`
				Description string `json:"description"`
			}
			var rows []row
			for _, f := range infos {
				if m, _ := path.Match(pattern, f.Name); !m {
					continue
				}
				rows = append(rows, row{Name: f.Name, Type: f.Type.String(), Arg: argForm(f), List: f.List, Description: f.Desc})
			}
			if len(rows) == 0 {
				return fmt.Errorf("no %s field matches %q", source, pattern)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			}
			for _, r := range rows {
				meta := []string{r.Type}
				if r.List {
					meta[0] = "list of " + r.Type
				}
				if r.Arg != "" {
					meta = append(meta, "argument "+r.Arg)
				}
				fmt.Fprintf(out, "%s (%s)\n  %s\n", r.Name, strings.Join(meta, ", "), r.Description)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&source, "source", "syscall", "event source whose fields to list")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the list as JSON")
	rootCmd.AddCommand(cmd)
}
