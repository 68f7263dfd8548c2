package agent

import (
	"context"
	"io"

	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/scap"
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

// Run delivers every event of the capture, until its end or ctx is done.
func (s *CaptureSource) Run(ctx context.Context, in Input) error {
	s.r.OnMetadata = func(r *scap.Reader) { in.LoadCapture(r) }
	in.Ready("")
	var ev event.Event
	// the context is looked at once per 256 events: ctx.Err walks the context chain (about
	// 20 instructions, a tenth of what the state costs an event)
	for n := uint(0); n&255 != 0 || ctx.Err() == nil; n++ {
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
