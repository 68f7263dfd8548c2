package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/saker-sec/saker/pkg/rules/loader"
	"github.com/saker-sec/saker/pkg/rulestest"
	defaultrules "github.com/saker-sec/saker/rules"
)

// `saker rules test`: run rule test suites against rules files (the default ruleset when no
// -r is given).
func init() {
	var files []string
	var junit string
	var verbose, defaults bool
	cmd := &cobra.Command{
		Use:   "test [-r RULES...] [--junit FILE] TESTS...",
		Short: "Run rule test cases (YAML) through the real decoder, state and rule engine",
		Long: "Runs YAML rule test files: each case describes processes, files and connections (encoded as\n" +
			"real scap events) or names a capture, and lists the alerts expected. Without -r the default\n" +
			"ruleset is tested; --defaults runs the default ruleset's own test suite. Exits 1 when a case fails.",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && !defaults {
				return fmt.Errorf("no test files given (or use --defaults)")
			}
			var rf []loader.File
			if len(files) == 0 {
				rf = defaultrules.Files()
			} else {
				for _, p := range files {
					b, err := os.ReadFile(p)
					if err != nil {
						return err
					}
					rf = append(rf, loader.File{Name: p, Data: b})
				}
			}
			runner, err := rulestest.NewRunner(rf)
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				return exitError{1}
			}
			var suites []*rulestest.Suite
			if defaults {
				for _, f := range defaultrules.TestFiles() {
					s, err := rulestest.Parse(f.Name, f.Data)
					if err != nil {
						return err
					}
					suites = append(suites, s)
				}
			}
			for _, p := range args {
				s, err := rulestest.LoadFile(p)
				if err != nil {
					return err
				}
				suites = append(suites, s)
			}
			results := runner.Run(suites)
			rulestest.WriteText(cmd.OutOrStdout(), results, verbose)
			if junit != "" {
				f, err := os.Create(junit)
				if err != nil {
					return err
				}
				if err := rulestest.WriteJUnit(f, results); err != nil {
					f.Close()
					return err
				}
				if err := f.Close(); err != nil {
					return err
				}
			}
			if rulestest.Summarize(results).Failed > 0 {
				return exitError{1}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&files, "rules", "r", nil, "rules file (repeatable; loaded in order; default: the built-in ruleset)")
	cmd.Flags().StringVar(&junit, "junit", "", "also write the results as JUnit XML to FILE")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "list passing cases too")
	cmd.Flags().BoolVar(&defaults, "defaults", false, "run the built-in ruleset's own test suite")
	for _, c := range rootCmd.Commands() {
		if c.Name() == "rules" {
			c.AddCommand(cmd)
			return
		}
	}
	panic("saker: the rules command must be registered before rules test")
}
