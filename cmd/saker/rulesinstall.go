package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	defaultrules "github.com/saker-sec/saker/rules"
)

// `saker rules install DIR`: write the built-in ruleset's layer files to a directory, so they
// can be reviewed, versioned and loaded with -r (and overridden by later local files).
func init() {
	var force bool
	cmd := &cobra.Command{
		Use:   "install DIR",
		Short: "Write the default rules files (in layer order) to DIR",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			for _, f := range defaultrules.Files() {
				p := filepath.Join(dir, f.Name)
				if _, err := os.Stat(p); err == nil && !force {
					return fmt.Errorf("%s exists (use --force to overwrite)", p)
				}
				if err := os.WriteFile(p, f.Data, 0o644); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), p)
			}
			return os.WriteFile(filepath.Join(dir, "VERSION"), []byte(defaultrules.Version+"\n"), 0o644)
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "overwrite existing files")
	for _, c := range rootCmd.Commands() {
		if c.Name() == "rules" {
			c.AddCommand(cmd)
			return
		}
	}
	panic("saker: the rules command must be registered before rules install")
}
