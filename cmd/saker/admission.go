package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/saker-sec/saker/pkg/admission"
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/k8saudit"
	"github.com/saker-sec/saker/pkg/rules/engine"
	"github.com/saker-sec/saker/pkg/rules/loader"
)

func init() {
	adm := &cobra.Command{Use: "admission", Short: "Kubernetes validating admission webhook evaluating k8s_admission rules"}

	var scfg admission.ServerConfig
	var files []string
	var exNS, exUsers, exGroups []string
	var hostname string
	var verbose bool
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Serve the admission webhook over HTTPS; alerts are written to standard output as Falco JSON lines",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			srcs := map[string]fields.Source{admission.SourceName: admission.NewFieldSource(), k8saudit.SourceName: k8saudit.NewFieldSource()}
			var rs *engine.Ruleset
			var errs, warns []loader.Message
			if len(files) == 0 {
				rs, errs, warns = engine.Load([]loader.File{admission.DefaultRules()}, engine.Options{Sources: srcs})
			} else {
				rs, errs, warns = engine.LoadFiles(files, engine.Options{Sources: srcs})
			}
			stderr := cmd.ErrOrStderr()
			if verbose {
				for _, w := range warns {
					fmt.Fprintf(stderr, "%s: warning: %s\n", w.Pos, messageText(w))
				}
			}
			for _, e := range errs {
				fmt.Fprintf(stderr, "%s: %s\n", e.Pos, messageText(e))
			}
			if len(errs) > 0 {
				return exitError{1}
			}
			ctl := admission.NewController(rs)
			ctl.Exemptions = admission.Exemptions{Namespaces: exNS, Users: exUsers, Groups: exGroups}
			if hostname == "" {
				hostname, _ = os.Hostname()
			}
			ctl.Hostname = hostname
			var outMu sync.Mutex
			stdout := cmd.OutOrStdout()
			ctl.Emit = func(m admission.Match) {
				b, err := m.Alert.MarshalJSON()
				if err != nil {
					return
				}
				outMu.Lock()
				stdout.Write(append(b, '\n'))
				outMu.Unlock()
			}
			srv, err := admission.NewServer(scfg, ctl)
			if err != nil {
				return err
			}
			fmt.Fprintf(stderr, "saker admission: serving %s\n", srv.URL())
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			<-ctx.Done()
			srv.Close()
			st := ctl.Stats()
			fmt.Fprintf(stderr, "saker admission: %d reviews, %d denied, %d warned, %d exempt, %d alerts\n", st.Reviews, st.Denied, st.Warned, st.Exempt, st.Alerts)
			return nil
		},
	}
	f := serve.Flags()
	f.StringArrayVarP(&files, "rules", "r", nil, "rules file (repeatable; loaded in order); none: the built-in admission rules")
	f.StringVar(&scfg.Listen, "listen", admission.DefaultListen, "listen address")
	f.StringVar(&scfg.Path, "path", admission.DefaultPath, "endpoint path")
	f.StringVar(&scfg.CertFile, "cert", "", "serving certificate (PEM; required)")
	f.StringVar(&scfg.KeyFile, "key", "", "serving key (PEM; required)")
	f.StringVar(&scfg.ClientCAFile, "client-ca", "", "CA of the API server's client certificate")
	f.StringVar(&scfg.TokenFile, "token-file", "", "file of accepted bearer tokens, one a line")
	f.Int64Var(&scfg.MaxBodyBytes, "max-body", admission.DefaultMaxBodyBytes, "largest review body accepted, in bytes")
	def := admission.DefaultExemptions()
	f.StringSliceVar(&exNS, "exempt-namespace", def.Namespaces, "namespaces admitted without evaluation")
	f.StringSliceVar(&exUsers, "exempt-user", def.Users, "users admitted without evaluation")
	f.StringSliceVar(&exGroups, "exempt-group", def.Groups, "groups admitted without evaluation")
	f.StringVar(&hostname, "hostname", "", "hostname in alerts (default: this host's)")
	f.BoolVarP(&verbose, "verbose", "v", false, "print rule warnings too")

	var o admission.WebhookConfigOptions
	var service, caFile string
	cfgCmd := &cobra.Command{
		Use:   "webhook-config",
		Short: "Print the ValidatingWebhookConfiguration (YAML) that makes an API server call the webhook",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if service != "" {
				ns, name, ok := strings.Cut(service, "/")
				if !ok || ns == "" || name == "" {
					return fmt.Errorf("--service %q: NAMESPACE/NAME", service)
				}
				o.ServiceNamespace, o.ServiceName = ns, name
			}
			if caFile != "" {
				ca, err := os.ReadFile(caFile)
				if err != nil {
					return err
				}
				o.CABundle = ca
			}
			if o.FailurePolicy != "Fail" && o.FailurePolicy != "Ignore" {
				return fmt.Errorf("--failure-policy %q: Fail or Ignore", o.FailurePolicy)
			}
			c, err := admission.WebhookConfiguration(o)
			if err != nil {
				return err
			}
			out, err := yaml.Marshal(c)
			if err != nil {
				return errors.New("webhook configuration: " + err.Error())
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	f = cfgCmd.Flags()
	f.StringVar(&o.URL, "url", "", "the webhook's https URL (or --service)")
	f.StringVar(&service, "service", "", "the webhook's service, NAMESPACE/NAME (or --url)")
	f.Int32Var(&o.ServicePort, "service-port", 443, "the service's port")
	f.StringVar(&o.ServicePath, "service-path", admission.DefaultPath, "the service's path")
	f.StringVar(&caFile, "ca-file", "", "PEM of the CA that signed the webhook's serving certificate (caBundle)")
	f.StringVar(&o.FailurePolicy, "failure-policy", "Fail", "Fail (closed: refuse while the webhook is unreachable) or Ignore (open)")
	f.Int32Var(&o.TimeoutSeconds, "timeout", 5, "API server's timeout for a review, seconds (1-30)")
	f.StringSliceVar(&o.ExcludeNamespaces, "exclude-namespace", []string{"kube-system"}, "namespaces the API server never sends (namespaceSelector)")
	f.StringVar(&o.Name, "name", "saker", "name of the configuration object")
	f.StringVar(&o.WebhookName, "webhook-name", "admission.saker.dev", "name of the webhook (fully qualified)")

	adm.AddCommand(serve, cfgCmd)
	rootCmd.AddCommand(adm)
}
