package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/saker-sec/saker/pkg/response"
	"github.com/saker-sec/saker/pkg/response/actions"
)

func newActionsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "actions",
		Short: "Response actions a response policy can use",
	}
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List the response actions with their parameters, checks and an example",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			specs := actions.Specs()
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(specs)
			}
			for i, s := range specs {
				if i > 0 {
					fmt.Fprintln(out)
				}
				fmt.Fprintf(out, "%s\n  %s\n", s.Name, s.Description)
				if len(s.Needs) > 0 {
					fmt.Fprintf(out, "  needs: %s\n", strings.Join(s.Needs, ", "))
				}
				if len(s.Params) > 0 {
					fmt.Fprintln(out, "  parameters:")
					for _, p := range s.Params {
						extra := ""
						if p.Required {
							extra = ", required"
						} else if p.Default != nil && fmt.Sprint(p.Default) != "" {
							extra = fmt.Sprintf(", default %v", p.Default)
						}
						fmt.Fprintf(out, "    %s (%s%s): %s\n", p.Name, p.Type, extra, p.Description)
					}
				}
				fmt.Fprintln(out, "  checks:")
				for _, c := range s.Checks {
					fmt.Fprintf(out, "    - %s\n", c)
				}
				fmt.Fprintln(out, "  example:")
				for _, l := range strings.Split(s.Example, "\n") {
					fmt.Fprintf(out, "    %s\n", l)
				}
			}
			return nil
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print the registry as JSON")
	validate := &cobra.Command{
		Use:   "validate POLICY.yaml",
		Short: "Check a response policy file (exit 1 with FILE:LINE:COL: message per error)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := response.LoadFile(args[0])
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				return exitError{1}
			}
			n := 0
			for _, r := range p.Rules {
				n += len(r.Steps)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%d rules, %d actions)\n", args[0], len(p.Rules), n)
			return nil
		},
	}
	cmd.AddCommand(list, validate)
	return cmd
}
