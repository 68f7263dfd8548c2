package scap

import (
	"io"

	"github.com/saker-sec/saker/pkg/event"
)

// Drain reads every event of the capture at path and normalizes it (old layouts remapped,
// enter params merged into exits), as a replay does before state and rules, and returns how
// many events it read: the floor a replay is measured against (saker run --decode-only).
func Drain(path string) (uint64, error) {
	r, err := Open(path)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	var (
		ev   event.Event
		norm event.Normalizer
		n    uint64
	)
	sections := 0
	for {
		err := r.Next(&ev)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if r.Sections() != sections { // a concatenated capture: its own enters
			sections = r.Sections()
			norm.Reset()
		}
		if norm.Next(&ev) {
			n++
		}
	}
}
