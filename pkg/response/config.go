package response

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/container"
	"github.com/saker-sec/saker/pkg/k8smeta"
	"github.com/saker-sec/saker/pkg/procscan"
	"github.com/saker-sec/saker/pkg/response/actions"
	"github.com/saker-sec/saker/pkg/response/netisolate"
	"github.com/saker-sec/saker/pkg/response/ring"
)

// Config is the `response:` section proposed for saker.yaml (the agent decodes it and calls
// Start). Zero values are the defaults.
type Config struct {
	// PolicyFile is the response policy; "" disables the engine.
	PolicyFile string `yaml:"policy_file"`
	// DryRun makes every action a dry run, whatever the policy says.
	DryRun bool `yaml:"dry_run"`
	// NeverKill globs are added to the policy's.
	NeverKill []string `yaml:"never_kill"`
	// DockerSocket for the container actions and snapshots' inspect JSON; "" finds
	// DOCKER_HOST (unix://) or /var/run/docker.sock.
	DockerSocket string `yaml:"docker_socket"`
	// ContainerdSocket for containers Docker does not know (ctr, nerdctl, Kubernetes on
	// containerd); "" finds /run/containerd/containerd.sock or k3s's.
	ContainerdSocket string `yaml:"containerd_socket"`
	// SnapshotDir, default /var/lib/saker/snapshots.
	SnapshotDir string `yaml:"snapshot_dir"`
	// NetworkIsolation attaches the cgroup-bpf programs at start (network_isolate needs it).
	NetworkIsolation bool `yaml:"network_isolation"`
	// Ring bounds: seconds of events kept per workload (default 60), events and MiB per
	// workload (50000, 16), workloads (512).
	RingSeconds   int `yaml:"ring_seconds"`
	RingEvents    int `yaml:"ring_events"`
	RingMiB       int `yaml:"ring_mib"`
	RingWorkloads int `yaml:"ring_workloads"`
	// Kubeconfig for the k8s_* actions; "" uses the in-cluster credentials when running in a
	// pod, else the k8s_* actions fail (no client).
	Kubeconfig string `yaml:"kubeconfig"`
	// Queue and Workers of the engine (256, 2).
	Queue   int `yaml:"queue"`
	Workers int `yaml:"workers"`
}

// Started is a running engine with what Start attached.
type Started struct {
	*Engine
	Isolator *netisolate.Isolator // nil unless network_isolation
}

// Stop closes the engine (within the deadline of Close's context) and detaches the network
// isolation (lifting every quarantine).
func (s *Started) Stop(ctxTimeout time.Duration) error {
	ctx, cancel := contextWithTimeout(ctxTimeout)
	defer cancel()
	s.Engine.Close(ctx)
	if s.Isolator != nil {
		return s.Isolator.Close()
	}
	return nil
}

// Start loads the policy and starts the engine; emit receives the response alerts (it must be
// safe for concurrent use), metrics may be nil.
func Start(cfg Config, emit func(*alert.Alert), metrics *Metrics, log *slog.Logger) (*Started, error) {
	if cfg.PolicyFile == "" {
		return nil, errors.New("response: no policy_file")
	}
	pol, err := LoadFile(cfg.PolicyFile)
	if err != nil {
		return nil, err
	}
	env := actions.Env{NeverKill: cfg.NeverKill, DockerSocket: cfg.DockerSocket, SnapshotDir: cfg.SnapshotDir}
	if env.DockerSocket == "" {
		env.DockerSocket = findSocket("/var/run/docker.sock", "/run/docker.sock")
		if h := os.Getenv("DOCKER_HOST"); len(h) > 7 && h[:7] == "unix://" {
			env.DockerSocket = h[7:]
		}
	}
	env.ContainerdSocket = cfg.ContainerdSocket
	if env.ContainerdSocket == "" {
		env.ContainerdSocket = findSocket("/run/containerd/containerd.sock", "/run/k3s/containerd/containerd.sock")
	}
	if id, err := selfContainer(); err == nil {
		env.SelfContainer = id
	}
	if env.Kube, err = kubeClient(cfg.Kubeconfig); err != nil {
		return nil, fmt.Errorf("response.kubeconfig: %w", err)
	}
	if ns, name := os.Getenv("POD_NAMESPACE"), os.Getenv("POD_NAME"); ns != "" && name != "" {
		env.SelfPod = ns + "/" + name // the downward API, as deploy manifests set it
	}
	st := &Started{}
	if cfg.NetworkIsolation {
		if st.Isolator, err = netisolate.Load(""); err != nil {
			return nil, fmt.Errorf("response.network_isolation: %w", err)
		}
		env.Isolator = st.Isolator
	}
	ro := ring.Options{Window: int64(cfg.RingSeconds) * 1e9, MaxEvents: cfg.RingEvents, MaxBytes: cfg.RingMiB << 20, MaxWorkloads: cfg.RingWorkloads}
	st.Engine, err = New(Options{Policy: pol, Env: env, DryRun: cfg.DryRun, Emit: emit, Metrics: metrics,
		Queue: cfg.Queue, Workers: cfg.Workers, Ring: ro, Log: log})
	if err != nil {
		if st.Isolator != nil {
			st.Isolator.Close()
		}
		return nil, err
	}
	return st, nil
}

func findSocket(paths ...string) string {
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil && st.Mode()&os.ModeSocket != 0 {
			return p
		}
	}
	return ""
}

// selfContainer is the container Saker runs in ("" on the host), from its cgroups.
func selfContainer() (string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	ref, _ := container.FromCgroups(procscan.ParseCgroups(b, nil))
	return ref.ID, nil
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// kubeClient is the API client of the kube actions: nil (no error) without a kubeconfig
// outside a pod.
func kubeClient(kubeconfig string) (kubernetes.Interface, error) {
	if kubeconfig == "" && os.Getenv("KUBERNETES_SERVICE_HOST") == "" {
		return nil, nil
	}
	return k8smeta.NewClient(kubeconfig, "saker-response")
}
