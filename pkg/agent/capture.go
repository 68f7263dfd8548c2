package agent

import (
	"context"
	"io"

	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/scap"
	"github.com/saker-sec/saker/pkg/state"
)

// CaptureSource replays a .scap capture (saker run -e): its metadata blocks go to the state,
// its events through the pipeline, and it ends at the capture's end.
type CaptureSource struct {
	r *scap.Reader
	// Before, when set, runs before each event, with the agent's lock released (tests reload
	// the configuration there).
	Before func(*event.Event)
}

// OpenCapture opens a capture to replay; Run reads it, Close closes it.
func OpenCapture(path string) (*CaptureSource, error) {
	r, err := scap.Open(path)
	if err != nil {
		return nil, err
	}
	return &CaptureSource{r: r}, nil
}

// Name is "capture".
func (s *CaptureSource) Name() string { return "capture" }

// Close closes the capture file.
func (s *CaptureSource) Close() error { return s.r.Close() }

// Run delivers every event of the capture, until its end or ctx is done. Without a Before
// hook the capture is read and decoded ahead on a goroutine of its own (replayBatches batches
// of replayBatchEvents events in flight), so reading runs on one core while state and rules
// run on another; events, metadata and errors reach the pipeline in the capture's order.
func (s *CaptureSource) Run(ctx context.Context, in Input) error {
	if s.Before != nil {
		return s.runInline(ctx, in)
	}
	in.Ready("")
	full := make(chan *replayBatch, replayBatches)
	free := make(chan *replayBatch, replayBatches)
	for i := 0; i < replayBatches; i++ {
		free <- &replayBatch{evs: make([]event.Event, replayBatchEvents)}
	}
	done := make(chan struct{})
	go s.readAhead(full, free, done)
	stop := func(err error) error {
		close(done)
		for range full { // the reader goroutine has ended when full is closed
		}
		return err
	}
	for b := range full {
		m := 0
		for i := 0; i < b.n; i++ {
			for ; m < len(b.metas) && b.metas[m].at == i; m++ {
				in.LoadCapture(b.metas[m].c)
			}
			in.Syscall(&b.evs[i])
		}
		for ; m < len(b.metas); m++ {
			in.LoadCapture(b.metas[m].c)
		}
		if b.err == io.EOF {
			return stop(nil)
		}
		if b.err != nil {
			return stop(b.err)
		}
		if ctx.Err() != nil {
			return stop(nil)
		}
		free <- b
	}
	return nil
}

// replayBatchEvents and replayBatches size the read-ahead of a replay.
const (
	replayBatchEvents = 256
	replayBatches     = 4
)

// replayBatch is a run of events read ahead, their records copied into arena.
type replayBatch struct {
	evs   []event.Event
	n     int
	arena []byte
	metas []batchMeta // sections' metadata, each loaded before event at
	err   error       // the read error that ends the capture (io.EOF at its end)
}

type batchMeta struct {
	at int
	c  state.Capture
}

// captureMeta is a copy of a section's metadata as the reader had it (the reader starts new
// slices for the next section).
type captureMeta struct {
	machine    event.MachineInfo
	hasMachine bool
	ifaces     []event.Interface
	users      []event.User
	groups     []event.Group
	threads    []event.ThreadInfo
	fds        []event.FDInfo
}

func (c *captureMeta) Machine() (event.MachineInfo, bool) { return c.machine, c.hasMachine }
func (c *captureMeta) Interfaces() []event.Interface      { return c.ifaces }
func (c *captureMeta) Users() []event.User                { return c.users }
func (c *captureMeta) Groups() []event.Group              { return c.groups }
func (c *captureMeta) Threads() []event.ThreadInfo        { return c.threads }
func (c *captureMeta) FDs() []event.FDInfo                { return c.fds }

// readAhead reads the capture into batches until its end, an error, or done.
func (s *CaptureSource) readAhead(full chan<- *replayBatch, free <-chan *replayBatch, done <-chan struct{}) {
	defer close(full)
	var b *replayBatch
	s.r.OnMetadata = func(r *scap.Reader) {
		m := &captureMeta{ifaces: r.Interfaces(), users: r.Users(), groups: r.Groups(), threads: r.Threads(), fds: r.FDs()}
		m.machine, m.hasMachine = r.Machine()
		b.metas = append(b.metas, batchMeta{at: b.n, c: m})
	}
	for {
		select {
		case b = <-free:
		case <-done:
			return
		}
		b.n, b.arena, b.metas, b.err = 0, b.arena[:0], b.metas[:0], nil
		for b.n < len(b.evs) && b.err == nil {
			b.arena, b.err = s.r.NextCopy(&b.evs[b.n], b.arena)
			if b.err == nil {
				b.n++
			}
		}
		select {
		case full <- b:
		case <-done:
			return
		}
		if b.err != nil {
			return
		}
	}
}

// runInline is Run reading each event when the pipeline is ready for it (the Before hook
// runs between two reads).
func (s *CaptureSource) runInline(ctx context.Context, in Input) error {
	s.r.OnMetadata = func(r *scap.Reader) { in.LoadCapture(r) }
	in.Ready("")
	var ev event.Event
	for ctx.Err() == nil {
		err := s.r.Next(&ev)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if s.Before != nil {
			in.Idle() // the hook may reload
			s.Before(&ev)
		}
		in.Syscall(&ev)
	}
	return nil
}
