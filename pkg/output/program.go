package output

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/saker-sec/saker/pkg/alert"
)

// ProgramConfig configures a program channel (Falco's program_output).
type ProgramConfig struct {
	Name    string // channel name ("program" when empty)
	Command string // run with /bin/sh -c
	// KeepAlive runs the program once and writes every alert to its stdin, restarting it when
	// it dies; without, the program is started for each alert, given that one line and waited
	// for, as Falco does.
	KeepAlive bool
	// Stdout and Stderr receive the program's output (the process's own when nil).
	Stdout, Stderr io.Writer
	Format         Format
}

// ProgramChannel pipes alerts to a command's stdin.
type ProgramChannel struct {
	cfg      ProgramConfig
	mu       sync.Mutex
	proc     *exec.Cmd
	stdin    io.WriteCloser
	exited   chan struct{}
	buf      []byte
	restarts atomic.Uint64
	lastFail time.Time
}

// NewProgram returns a program channel; with KeepAlive the program starts at the first alert.
func NewProgram(cfg ProgramConfig) (*ProgramChannel, error) {
	if cfg.Command == "" {
		return nil, errors.New("program_output: program is empty")
	}
	if cfg.Stdout == nil {
		cfg.Stdout = os.Stdout
	}
	if cfg.Stderr == nil {
		cfg.Stderr = os.Stderr
	}
	return &ProgramChannel{cfg: cfg}, nil
}

// Name implements Channel.
func (c *ProgramChannel) Name() string {
	if c.cfg.Name == "" {
		return "program"
	}
	return c.cfg.Name
}

// Restarts is how many times a kept-alive program was started again after it died (or on
// Reopen).
func (c *ProgramChannel) Restarts() uint64 { return c.restarts.Load() }

func (c *ProgramChannel) command() *exec.Cmd {
	cmd := exec.Command("/bin/sh", "-c", c.cfg.Command)
	cmd.Stdout, cmd.Stderr = c.cfg.Stdout, c.cfg.Stderr
	// own process group, so that killing it also kills a pipeline's children
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

func kill(cmd *exec.Cmd) {
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

// start starts the kept-alive program (c.mu held).
func (c *ProgramChannel) start() error {
	cmd := c.command()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	c.proc, c.stdin, c.exited = cmd, stdin, exited
	return nil
}

// stop closes the program's stdin and waits a little for it (at most until ctx is done),
// then kills it (c.mu held).
func (c *ProgramChannel) stop(ctx context.Context, grace time.Duration) {
	if c.proc == nil {
		return
	}
	c.stdin.Close()
	select {
	case <-c.exited:
	case <-time.After(grace):
		kill(c.proc)
		<-c.exited
	case <-ctx.Done():
		kill(c.proc)
		<-c.exited
	}
	c.proc, c.stdin, c.exited = nil, nil, nil
}

func (c *ProgramChannel) alive() bool {
	if c.proc == nil {
		return false
	}
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// Write implements Channel. A write blocked on a program that does not read is interrupted
// only by ctx (the program is then killed).
func (c *ProgramChannel) Write(ctx context.Context, a *alert.Alert) error {
	c.buf = append(append(c.buf[:0], c.cfg.Format.Line(a)...), '\n')
	if !c.cfg.KeepAlive {
		return c.once(ctx)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		if !c.alive() {
			if c.proc != nil {
				c.stop(ctx, 0)
				c.restarts.Add(1)
			}
			// a program that keeps dying is restarted at most every 100ms
			if d := time.Until(c.lastFail.Add(100 * time.Millisecond)); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			if err = c.start(); err != nil {
				c.lastFail = time.Now()
				return err
			}
		}
		proc := c.proc
		stop := context.AfterFunc(ctx, func() { kill(proc) })
		_, err = c.stdin.Write(c.buf)
		stop()
		if err == nil {
			return nil
		}
		c.lastFail = time.Now()
		kill(c.proc)
		if ctx.Err() != nil {
			return err
		}
	}
	return err
}

func (c *ProgramChannel) once(ctx context.Context) error {
	cmd := c.command()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { kill(cmd) })
	defer stop()
	_, err = stdin.Write(c.buf)
	stdin.Close()
	werr := cmd.Wait()
	if err == nil {
		err = werr
	}
	return err
}

// Reopen restarts a kept-alive program (SIGUSR1, as Falco does).
func (c *ProgramChannel) Reopen() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc != nil {
		c.stop(context.Background(), time.Second)
		c.restarts.Add(1)
	}
	return nil
}

// Close closes the program's stdin and waits up to 2s (or until ctx is done) for it to exit
// before killing it.
func (c *ProgramChannel) Close(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stop(ctx, 2*time.Second)
	return nil
}
