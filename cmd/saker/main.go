// Command saker is Saker's command-line interface: live detection, capture replay, rule tools.
// Each subcommand lives in its own file and registers itself on rootCmd in an init function.
package main

import (
	"fmt"
	"github.com/saker-sec/saker/pkg/deny"
	"github.com/saker-sec/saker/pkg/enforce"
	"os"
	"runtime/pprof"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

var rootCmd = &cobra.Command{
	Use:           "saker",
	Short:         "Runtime threat detection for Linux hosts, containers and Kubernetes",
	Long:          "Saker captures kernel events with a CO-RE eBPF probe (or reads .scap captures),\nrebuilds process, file, network and container state, and evaluates Falco-language rules.",
	SilenceUsage:  true,
	SilenceErrors: true,
}

// cpuProfile is the file of --cpuprofile (hidden: for performance work, see BENCHMARKS.md).
var cpuProfile string

func init() {
	rootCmd.PersistentFlags().StringVar(&cpuProfile, "cpuprofile", "", "write a Go CPU profile of the command to this file")
	rootCmd.PersistentFlags().MarkHidden("cpuprofile")
	rootCmd.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if cpuProfile == "" {
			return nil
		}
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		return pprof.StartCPUProfile(f)
	}
	rootCmd.AddCommand(newActionsCmd())
	rootCmd.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print Saker's version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "saker %s\n", version)
			fmt.Fprintf(cmd.OutOrStdout(), "enforce: kill at syscall entry (bpf_send_signal); BPF LSM (EPERM) %s\n", enforce.DetectLSM())
		},
	})
}

// exitError carries a process exit code out of a command without printing anything more.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	deny.RunWatchdogIfChild() // the deny watchdog is this binary re-executed
	err := rootCmd.Execute()
	if cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		if ee, ok := err.(exitError); ok {
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "saker:", err)
		os.Exit(1)
	}
}
