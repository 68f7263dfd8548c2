package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/saker-sec/saker/pkg/config"
	"github.com/saker-sec/saker/pkg/incident"
)

func init() {
	var file, path string
	var overrides []string
	var asJSON bool
	storePath := func(cmd *cobra.Command) (string, error) {
		if path != "" {
			return path, nil
		}
		c, err := config.Load(file, overrides)
		if err != nil {
			fmt.Fprintln(cmd.ErrOrStderr(), err)
			return "", exitError{2}
		}
		return c.Incidents.StorePath(), nil
	}
	cmd := &cobra.Command{
		Use:   "incidents",
		Short: "List the incidents of the store (a pod's API actions joined to the alerts in it; incidents.path)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := storePath(cmd)
			if err != nil {
				return err
			}
			l, err := incident.List(p)
			if err != nil {
				return err
			}
			if asJSON {
				if l == nil {
					l = []*incident.Incident{}
				}
				return incident.WriteJSON(cmd.OutOrStdout(), l)
			}
			return incident.WriteTable(cmd.OutOrStdout(), l)
		},
	}
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Print one incident with its chain",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := storePath(cmd)
			if err != nil {
				return err
			}
			in, err := incident.Get(p, args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return incident.WriteJSON(cmd.OutOrStdout(), in)
			}
			return incident.WriteDetail(cmd.OutOrStdout(), in)
		},
	}
	f := cmd.PersistentFlags()
	f.StringVarP(&file, "config", "c", "", "configuration file (saker.yaml), for incidents.path")
	f.StringArrayVarP(&overrides, "option", "o", nil, "override a key: key.path=value")
	f.StringVar(&path, "path", "", "the store file (default: incidents.path of the configuration)")
	f.BoolVar(&asJSON, "json", false, "JSON instead of text")
	cmd.AddCommand(show)
	rootCmd.AddCommand(cmd)
}
