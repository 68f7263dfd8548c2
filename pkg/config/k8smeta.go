package config

import "os"

// K8sMetadata is the `k8s_metadata:` section: the Kubernetes API server as the source of the
// k8s.* syscall fields the container runtime cannot give (owners, services, namespace and
// node labels; pkg/k8smeta). Read at start: a reload that changes it logs that a restart is
// needed.
type K8sMetadata struct {
	Enabled bool `yaml:"enabled"`
	// Kubeconfig is a kubeconfig file; empty means the in-cluster service account.
	Kubeconfig string `yaml:"kubeconfig"`
	// NodeName is this node's name (only its pods are watched); empty means $NODE_NAME,
	// else the host name.
	NodeName string `yaml:"node_name"`
}

// Node is the node name to watch the pods of: node_name, else $NODE_NAME, else the host name.
func (k K8sMetadata) Node() string {
	if k.NodeName != "" {
		return k.NodeName
	}
	if n := os.Getenv("NODE_NAME"); n != "" {
		return n
	}
	h, _ := os.Hostname()
	return h
}
