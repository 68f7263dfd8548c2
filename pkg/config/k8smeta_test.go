package config

import (
	"os"
	"testing"
)

func TestK8sMetadata(t *testing.T) {
	c, err := Parse("x.yaml", []byte("k8s_metadata:\n  enabled: true\n  kubeconfig: /etc/kube.conf\n"), []string{"k8s_metadata.node_name=n7"})
	if err != nil {
		t.Fatal(err)
	}
	if k := c.K8sMetadata; !k.Enabled || k.Kubeconfig != "/etc/kube.conf" || k.Node() != "n7" {
		t.Errorf("k8s_metadata: %+v", k)
	}
	d, err := Parse("x.yaml", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.K8sMetadata.Enabled || d.K8sMetadata.Kubeconfig != "" {
		t.Errorf("defaults: %+v", d.K8sMetadata)
	}
	t.Setenv("NODE_NAME", "from-env")
	if n := d.K8sMetadata.Node(); n != "from-env" {
		t.Errorf("node from $NODE_NAME: %q", n)
	}
	t.Setenv("NODE_NAME", "")
	if h, _ := os.Hostname(); d.K8sMetadata.Node() != h {
		t.Errorf("node from the host name: %q, want %q", d.K8sMetadata.Node(), h)
	}
	if _, err := Parse("x.yaml", []byte("k8s_metadata:\n  enabld: true\n"), nil); err == nil {
		t.Error("unknown key accepted")
	}
}
