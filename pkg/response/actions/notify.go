package actions

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

type runProgram struct{}

func init() {
	Register(runProgram{})
	Register(webhook{})
}

func (runProgram) Spec() Spec {
	return Spec{
		Name:        "run_program",
		Description: "Run a program with the alert's JSON (Falco's schema) on its stdin; SAKER_POLICY_RULE, SAKER_PID and SAKER_CONTAINER_ID in its environment.",
		Params: []Param{
			{Name: "command", Type: TStrings, Required: true, Description: "argv: the program (absolute path) and its arguments; no shell"},
			{Name: "timeout", Type: TDuration, Default: "30s", Description: "killed (SIGKILL) after this long"},
		},
		Checks: []string{
			"the program must be an absolute path to an executable file (checked when the policy loads)",
			"a non-zero exit or a timeout is a failure, with the first 512 bytes of its stderr",
		},
		Example: "- action: run_program\n  with: {command: [/usr/local/bin/page-oncall, --team, sec], timeout: 10s}",
	}
}

func (runProgram) Check(p Params) error {
	argv := p.Strings("command")
	if len(argv) == 0 {
		return errors.New("command is empty")
	}
	if !strings.HasPrefix(argv[0], "/") {
		return fmt.Errorf("command: %q is not an absolute path", argv[0])
	}
	st, err := os.Stat(argv[0])
	if err != nil {
		return fmt.Errorf("command: %v", err)
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("command: %s is not an executable file", argv[0])
	}
	if p.Duration("timeout") <= 0 {
		return errors.New("timeout must be positive")
	}
	return nil
}

func (runProgram) Run(ctx context.Context, env *Env, req *Request) Result {
	argv := req.Params.Strings("command")
	res := Result{Target: argv[0]}
	body, err := json.Marshal(req.Alert)
	if err != nil {
		res.Outcome, res.Err = Failed, err
		return res
	}
	if req.DryRun {
		res.Outcome = DryRun
		return res
	}
	ctx, cancel := context.WithTimeout(ctx, req.Params.Duration("timeout"))
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = bytes.NewReader(append(body, '\n'))
	cmd.Env = append(os.Environ(),
		"SAKER_POLICY_RULE="+req.PolicyRule,
		"SAKER_PID="+strconv.FormatInt(req.Target.PID, 10),
		"SAKER_CONTAINER_ID="+req.Target.ContainerID)
	var stderr bytes.Buffer
	cmd.Stderr = &limited{w: &stderr, n: 512}
	err = cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("timed out after %s", req.Params.Duration("timeout"))
	}
	if err != nil {
		if s := strings.TrimSpace(stderr.String()); s != "" {
			err = fmt.Errorf("%w: %s", err, s)
		}
		res.Outcome, res.Err = Failed, err
		return res
	}
	res.Outcome = Done
	return res
}

// limited keeps the first n bytes written.
type limited struct {
	w io.Writer
	n int
}

func (l *limited) Write(b []byte) (int, error) {
	if l.n > 0 {
		k := min(len(b), l.n)
		l.w.Write(b[:k])
		l.n -= k
	}
	return len(b), nil
}

type webhook struct{}

func (webhook) Spec() Spec {
	return Spec{
		Name:        "webhook",
		Description: "POST the alert's JSON (Falco's schema) to a URL; X-Saker-Policy-Rule names the policy rule.",
		Params: []Param{
			{Name: "url", Type: TString, Required: true, Description: "http:// or https:// URL"},
			{Name: "bearer_token", Type: TString, Description: "sent as Authorization: Bearer TOKEN (${ENV} is expanded when the policy loads)"},
			{Name: "headers", Type: TMap, Description: "extra request headers"},
			{Name: "timeout", Type: TDuration, Default: "10s", Description: "whole request"},
		},
		Checks: []string{
			"the URL must be http or https with a host (checked when the policy loads)",
			"any status other than 2xx is a failure",
		},
		Example: "- action: webhook\n  with: {url: \"https://soar.example/hooks/saker\", bearer_token: \"${SOAR_TOKEN}\"}",
	}
}

func (webhook) Check(p Params) error {
	u, err := url.Parse(p.String("url"))
	if err != nil {
		return fmt.Errorf("url: %v", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("url: %q is not an http(s) URL with a host", p.String("url"))
	}
	if p.Duration("timeout") <= 0 {
		return errors.New("timeout must be positive")
	}
	return nil
}

func (webhook) Run(ctx context.Context, env *Env, req *Request) Result {
	u := req.Params.String("url")
	res := Result{Target: u}
	body, err := json.Marshal(req.Alert)
	if err != nil {
		res.Outcome, res.Err = Failed, err
		return res
	}
	if req.DryRun {
		res.Outcome = DryRun
		return res
	}
	ctx, cancel := context.WithTimeout(ctx, req.Params.Duration("timeout"))
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		res.Outcome, res.Err = Failed, err
		return res
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("User-Agent", "saker-response")
	hr.Header.Set("X-Saker-Policy-Rule", req.PolicyRule)
	for k, v := range req.Params.Map("headers") {
		hr.Header.Set(k, v)
	}
	if tok := req.Params.String("bearer_token"); tok != "" {
		hr.Header.Set("Authorization", "Bearer "+tok)
	}
	hc := env.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	start := time.Now()
	resp, err := hc.Do(hr)
	if err != nil {
		res.Outcome, res.Err = Failed, err
		return res
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	res.Fields = map[string]any{"status": resp.StatusCode, "duration_ms": time.Since(start).Milliseconds()}
	if resp.StatusCode/100 != 2 {
		res.Outcome, res.Err = Failed, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(msg)))
		return res
	}
	res.Outcome = Done
	return res
}
