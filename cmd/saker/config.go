package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/saker-sec/saker/pkg/config"
)

func init() {
	var file string
	var overrides []string
	var defaults bool
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Inspect Saker's configuration (saker.yaml)",
	}
	show := &cobra.Command{
		Use:   "show [-c FILE] [-o key.path=value]...",
		Short: "Print the effective configuration: the defaults, overlaid with -c FILE and -o overrides",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if defaults {
				_, err := cmd.OutOrStdout().Write(config.DefaultYAML())
				return err
			}
			c, err := config.Load(file, overrides)
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				return exitError{2}
			}
			b, err := c.YAML()
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
	show.Flags().StringVarP(&file, "config", "c", "", "configuration file (YAML; keys as in saker.yaml)")
	show.Flags().StringArrayVarP(&overrides, "option", "o", nil, "override a key: key.path=value (list[]=value appends, list[N]=value sets)")
	show.Flags().BoolVar(&defaults, "defaults", false, "print the embedded default saker.yaml with its comments")
	cmd.AddCommand(show)
	rootCmd.AddCommand(cmd)
}
