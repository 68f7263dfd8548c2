package actions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/saker-sec/saker/pkg/container"
)

// dockerAPI is the Docker Engine API over its unix socket, for what pkg/container (read-only)
// does not do: POST the lifecycle requests, GET the raw inspect JSON.
type dockerAPI struct {
	sock string
	hc   *http.Client
}

var dockerMu sync.Mutex

func (e *Env) dockerClient() (*dockerAPI, error) {
	if e.DockerSocket == "" {
		return nil, errors.New("no Docker Engine API socket configured")
	}
	dockerMu.Lock()
	defer dockerMu.Unlock()
	if e.docker == nil || e.docker.sock != e.DockerSocket {
		sock := e.DockerSocket
		tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}, MaxIdleConnsPerHost: 2, IdleConnTimeout: 30 * time.Second}
		e.docker = &dockerAPI{sock: sock, hc: &http.Client{Transport: tr}}
	}
	return e.docker, nil
}

// do sends a request and returns the status and up to 16 MiB of the body.
func (d *dockerAPI) do(ctx context.Context, method, p string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://docker"+p, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("docker %s: %w", d.sock, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	return resp.StatusCode, b, err
}

func dockerMessage(b []byte) string {
	var m struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(b, &m) == nil && m.Message != "" {
		return m.Message
	}
	return strings.TrimSpace(string(b))
}

// inspectRaw is GET /containers/{id}/json, as Docker returns it.
func (d *dockerAPI) inspectRaw(ctx context.Context, id string) ([]byte, error) {
	st, b, err := d.do(ctx, http.MethodGet, "/containers/"+url.PathEscape(id)+"/json")
	if err != nil {
		return nil, err
	}
	if st != http.StatusOK {
		return nil, fmt.Errorf("docker inspect %s: %d %s", id, st, dockerMessage(b))
	}
	return b, nil
}

type containerAction struct {
	verb string // stop, pause, kill
}

func init() {
	Register(containerAction{"stop"})
	Register(containerAction{"pause"})
	Register(containerAction{"kill"})
}

func (c containerAction) Spec() Spec {
	s := Spec{
		Name: "container_" + c.verb,
		Checks: []string{
			"refuses host processes (the alert must name a container)",
			"refuses the container Saker runs in",
		},
		Needs: []string{"container.id"},
	}
	switch c.verb {
	case "stop":
		s.Description = "Stop the alert's container (SIGTERM, then SIGKILL after the timeout; Docker Engine API, or containerd's task API for containers Docker does not know)."
		s.Params = []Param{{Name: "timeout", Type: TDuration, Default: "10s", Description: "grace period before SIGKILL"}}
		s.Example = "- action: container_stop\n  with: {timeout: 5s}"
	case "pause":
		s.Description = "Freeze every process of the alert's container (cgroup freezer; Docker Engine API or containerd's task API); unpause resumes it, evidence intact."
		s.Example = "- action: container_pause"
	case "kill":
		s.Description = "Send a signal (SIGKILL by default) to the alert's container (Docker Engine API: its init; containerd's task API: every process)."
		s.Params = []Param{{Name: "signal", Type: TString, Default: "SIGKILL", Description: "signal name or number"}}
		s.Example = "- action: container_kill\n  with: {signal: SIGKILL}"
	}
	return s
}

func (c containerAction) Check(p Params) error {
	if c.verb == "kill" {
		_, err := parseSignal(p.String("signal"))
		return err
	}
	if c.verb == "stop" && p.Duration("timeout") < 0 {
		return errors.New("timeout must not be negative")
	}
	return nil
}

func (c containerAction) Run(ctx context.Context, env *Env, req *Request) Result {
	t := req.Target
	res := Result{Target: "container " + container.ShortID(t.ContainerID)}
	if !t.InContainer() {
		res.Outcome, res.Err = Refused, errors.New("the alert's process is not in a container")
		return res
	}
	id := t.ContainerID
	if t.Container != nil && t.Container.ID != "" {
		id = t.Container.ID
		if t.Container.Name != "" {
			res.Target = fmt.Sprintf("container %s (%s)", container.ShortID(id), t.Container.Name)
		}
	}
	if env.SelfContainer != "" && strings.HasPrefix(id, container.ShortID(env.SelfContainer)) {
		res.Outcome, res.Err = Refused, errors.New("Saker runs in this container")
		return res
	}
	p := "/containers/" + url.PathEscape(id) + "/" + c.verb
	switch c.verb {
	case "stop":
		p += "?t=" + strconv.Itoa(int(req.Params.Duration("timeout").Seconds()))
	case "kill":
		sig, _ := parseSignal(req.Params.String("signal"))
		p += "?signal=" + strconv.Itoa(int(sig))
	}
	if req.DryRun {
		res.Outcome = DryRun
		return res
	}
	// Docker's containers through Docker (it keeps its own state right); others, or one
	// Docker does not know, through containerd's task API
	viaDocker := env.DockerSocket != "" && (t.Container == nil || t.Container.Type == container.TypeDocker || t.Container.Type == container.TypePodman)
	if !viaDocker {
		if env.ContainerdSocket == "" && env.DockerSocket == "" {
			res.Outcome, res.Err = Failed, errors.New("no Docker or containerd socket configured")
			return res
		}
		return c.viaContainerd(ctx, env, req, id, res)
	}
	d, err := env.dockerClient()
	if err != nil {
		res.Outcome, res.Err = Failed, err
		return res
	}
	if c.verb == "stop" {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, req.Params.Duration("timeout")+30*time.Second)
		defer cancel()
	}
	st, b, err := d.do(ctx, http.MethodPost, p)
	switch {
	case err != nil:
		res.Outcome, res.Err = Failed, err
	case st == http.StatusNoContent || st == http.StatusOK:
		res.Outcome = Done
	case st == http.StatusNotModified: // stop: already stopped
		res.Outcome = Done
		res.Fields = map[string]any{"note": "already stopped"}
	case st == http.StatusNotFound && env.ContainerdSocket != "":
		return c.viaContainerd(ctx, env, req, id, res)
	default:
		res.Outcome, res.Err = Failed, fmt.Errorf("docker %s: %d %s", c.verb, st, dockerMessage(b))
	}
	return res
}

func (c containerAction) viaContainerd(ctx context.Context, env *Env, req *Request, id string, res Result) Result {
	cd, err := env.containerdClient()
	if err != nil {
		res.Outcome, res.Err = Failed, err
		return res
	}
	if c.verb == "stop" {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, req.Params.Duration("timeout")+30*time.Second)
		defer cancel()
	}
	ns, err := cd.do(ctx, c.verb, id, req.Params)
	if err != nil {
		res.Outcome, res.Err = Failed, err
		return res
	}
	res.Fields = map[string]any{"runtime": "containerd", "namespace": ns}
	res.Outcome = Done
	return res
}
