package agent

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/saker-sec/saker/pkg/container"
)

// TestK8sMetaConfigError: k8s_metadata enabled with a kubeconfig that does not load is a
// configuration error naming the section; without a container manager (replays) the section
// is not used at all.
func TestK8sMetaConfigError(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "saker.yaml")
	os.WriteFile(cfg, []byte("webserver: {enabled: false}\nk8s_metadata:\n  enabled: true\n  kubeconfig: "+filepath.Join(dir, "missing")+"\n"), 0o644)
	cm := container.New(container.Config{Providers: []container.Provider{}})
	defer cm.Close()
	_, err := New(Options{ConfigFile: cfg, Replay: true, Containers: cm, Stdout: &syncBuf{}, Stderr: &syncBuf{}})
	var ce *ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "k8s_metadata") {
		t.Fatalf("New = %v, want a k8s_metadata configuration error", err)
	}
	a, err := New(Options{ConfigFile: cfg, Replay: true, Stdout: &syncBuf{}, Stderr: &syncBuf{}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.K8sMeta() != nil {
		t.Error("a directory without a container manager")
	}
}
