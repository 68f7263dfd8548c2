package actions

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	containersapi "github.com/containerd/containerd/api/services/containers/v1"
	namespacesapi "github.com/containerd/containerd/api/services/namespaces/v1"
	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// ctrdAPI is containerd's task API, for containers Docker does not manage (ctr, nerdctl,
// Kubernetes through containerd's CRI).
type ctrdAPI struct {
	sock  string
	conn  *grpc.ClientConn
	ns    namespacesapi.NamespacesClient
	ctrs  containersapi.ContainersClient
	tasks tasksapi.TasksClient
}

var (
	ctrdMu      sync.Mutex
	ctrdClients = map[string]*ctrdAPI{}
	plainCtrID  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
)

func (e *Env) containerdClient() (*ctrdAPI, error) {
	if e.ContainerdSocket == "" {
		return nil, errors.New("no containerd socket configured")
	}
	ctrdMu.Lock()
	defer ctrdMu.Unlock()
	if c := ctrdClients[e.ContainerdSocket]; c != nil {
		return c, nil
	}
	conn, err := grpc.NewClient("unix://"+e.ContainerdSocket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	c := &ctrdAPI{sock: e.ContainerdSocket, conn: conn, ns: namespacesapi.NewNamespacesClient(conn),
		ctrs: containersapi.NewContainersClient(conn), tasks: tasksapi.NewTasksClient(conn)}
	ctrdClients[e.ContainerdSocket] = c
	return c, nil
}

func inNS(ctx context.Context, ns string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "containerd-namespace", ns)
}

// find returns the namespace and full id of a container (id may be a prefix).
func (c *ctrdAPI) find(ctx context.Context, id string) (string, string, error) {
	nss, err := c.ns.List(ctx, &namespacesapi.ListNamespacesRequest{})
	if err != nil {
		return "", "", fmt.Errorf("containerd %s: %w", c.sock, err)
	}
	for _, n := range nss.Namespaces {
		nctx := inNS(ctx, n.Name)
		if r, err := c.ctrs.Get(nctx, &containersapi.GetContainerRequest{ID: id}); err == nil && r.Container != nil {
			return n.Name, r.Container.ID, nil
		}
		if len(id) >= 64 || !plainCtrID.MatchString(id) {
			continue
		}
		lr, err := c.ctrs.List(nctx, &containersapi.ListContainersRequest{Filters: []string{`id~="^` + regexp.QuoteMeta(id) + `"`}})
		if err != nil {
			continue
		}
		for _, x := range lr.Containers {
			if strings.HasPrefix(x.ID, id) {
				return n.Name, x.ID, nil
			}
		}
	}
	return "", "", fmt.Errorf("containerd %s: no container %s in any namespace", c.sock, id)
}

func (c *ctrdAPI) status(ctx context.Context, id string) (tasktypes.Status, error) {
	r, err := c.tasks.Get(ctx, &tasksapi.GetRequest{ContainerID: id})
	if err != nil {
		if status.Code(err) == codes.NotFound {
			return tasktypes.Status_STOPPED, nil
		}
		return 0, err
	}
	return r.Process.Status, nil
}

// waitStopped polls the task until it stopped or d passed.
func (c *ctrdAPI) waitStopped(ctx context.Context, id string, d time.Duration) (bool, error) {
	deadline := time.Now().Add(d)
	for {
		st, err := c.status(ctx, id)
		if err != nil {
			return false, err
		}
		if st == tasktypes.Status_STOPPED {
			return true, nil
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// do runs a container action through containerd; it returns the namespace used.
func (c *ctrdAPI) do(ctx context.Context, verb, id string, p Params) (string, error) {
	ns, full, err := c.find(ctx, id)
	if err != nil {
		return "", err
	}
	nctx := inNS(ctx, ns)
	switch verb {
	case "pause":
		_, err = c.tasks.Pause(nctx, &tasksapi.PauseTaskRequest{ContainerID: full})
	case "kill":
		sig, _ := parseSignal(p.String("signal"))
		_, err = c.tasks.Kill(nctx, &tasksapi.KillRequest{ContainerID: full, Signal: uint32(sig), All: true})
	case "stop":
		if _, err = c.tasks.Kill(nctx, &tasksapi.KillRequest{ContainerID: full, Signal: uint32(unix.SIGTERM), All: true}); err != nil {
			break
		}
		var stopped bool
		if stopped, err = c.waitStopped(nctx, full, p.Duration("timeout")); err != nil || stopped {
			break
		}
		if _, err = c.tasks.Kill(nctx, &tasksapi.KillRequest{ContainerID: full, Signal: uint32(unix.SIGKILL), All: true}); err != nil {
			break
		}
		if stopped, err = c.waitStopped(nctx, full, 10*time.Second); err == nil && !stopped {
			err = errors.New("still running 10s after SIGKILL")
		}
	}
	if err != nil {
		return ns, fmt.Errorf("containerd %s %s (namespace %s): %w", verb, full, ns, err)
	}
	return ns, nil
}
