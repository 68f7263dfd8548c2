package agent

import (
	"context"
	"fmt"

	"github.com/saker-sec/saker/pkg/config"
	"github.com/saker-sec/saker/pkg/k8smeta"
)

// newK8sMeta makes the Kubernetes metadata directory when k8s_metadata.enabled and the agent
// has a container manager (live runs): it watches the API server in the background and the
// container entries read it (container.Manager.SetPods). The agent does not wait for the
// first lists: until then, and for pods not known yet, the k8s.* fields fall back to CRI.
// Read at start only: a reload that changes the section says a restart is needed
// (k8sMetaConfig).
func (a *Agent) newK8sMeta(cfg *config.Config) error {
	k := cfg.K8sMetadata
	a.k8sCfg = k
	if !k.Enabled || a.opts.Containers == nil {
		return nil
	}
	cs, err := k8smeta.NewClient(k.Kubeconfig, "saker-k8smeta")
	if err != nil {
		return fmt.Errorf("k8s_metadata: %w", err)
	}
	d, err := k8smeta.New(k8smeta.Config{Client: cs, NodeName: k.Node()})
	if err != nil {
		return fmt.Errorf("k8s_metadata: %w", err)
	}
	a.k8s = d
	return nil
}

// startK8sMeta starts the directory newK8sMeta made (last in New: nothing to undo after it).
func (a *Agent) startK8sMeta() error {
	d := a.k8s
	if d == nil {
		return nil
	}
	if err := d.Start(context.Background()); err != nil {
		return fmt.Errorf("k8s_metadata: %w", err)
	}
	a.opts.Containers.SetPods(d)
	a.stop = append(a.stop, func() { a.opts.Containers.SetPods(nil); d.Close() })
	fmt.Fprintf(a.stderr, "saker: kubernetes metadata of node %s from the API server\n", d.Node())
	return nil
}

// k8sMetaConfig reports a reload's change of the k8s_metadata section: the directory's watch
// (API server credentials, node) is made at start, so a change needs a restart.
func (a *Agent) k8sMetaConfig(cur config.K8sMetadata) {
	if cur == a.k8sCfg {
		return
	}
	fmt.Fprintf(a.stderr, "saker: k8s_metadata changed: restart saker to apply it (the running one stays as started)\n")
}

// K8sMeta is the Kubernetes metadata directory (nil without k8s_metadata.enabled).
func (a *Agent) K8sMeta() *k8smeta.Directory { return a.k8s }
