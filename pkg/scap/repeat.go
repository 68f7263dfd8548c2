package scap

import (
	"errors"
	"fmt"
	"io"

	"github.com/saker-sec/saker/pkg/event"
)

// RepeatStats tells what Repeat wrote.
type RepeatStats struct {
	// Events is how many events were read from the source copies (all of them).
	Events int
	// Dropped is how many of them the sysdig-compatible writer left out (codes sysdig 0.29
	// cannot read); Events-Dropped were written.
	Dropped int
}

// Repeat writes a large capture for throughput benchmarks: the metadata of the capture at src
// (its first section) followed by its events n times, each copy's timestamps moved on past the
// previous copy's last one so that time keeps increasing (sysdig and Saker number events as
// they read them, so the numbering runs on by itself). The output is written in the layout
// sysdig 0.29 reads (events read in an old layout are written back in it), so `sysdig -r OUT`
// counts n times what it counts on src when src holds only codes it knows.
func Repeat(w io.Writer, src string, n int) (RepeatStats, error) {
	var st RepeatStats
	if n < 1 {
		return st, fmt.Errorf("scap: repeat %s: count %d < 1", src, n)
	}
	cw, err := NewWriter(w, WriterOptions{SysdigCompat: true})
	if err != nil {
		return st, err
	}
	var shift, first, last uint64
	var ev event.Event
	for i := 0; i < n; i++ {
		r, err := Open(src)
		if err != nil {
			return st, err
		}
		if i == 0 {
			r.OnMetadata = func(r *Reader) {
				if err == nil {
					err = cw.WriteMetadata(r)
				}
			}
		}
		for {
			rerr := r.Next(&ev)
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				r.Close()
				return st, rerr
			}
			if err != nil {
				r.Close()
				return st, err
			}
			if first == 0 {
				first = ev.TS
			}
			ev.TS += shift
			last = ev.TS
			if err := cw.WriteEvent(&ev); err != nil {
				r.Close()
				return st, err
			}
			st.Events++
		}
		r.Close()
		if err != nil {
			return st, err
		}
		if st.Events == 0 {
			return st, errors.New("scap: repeat " + src + ": no events")
		}
		shift = last - first + 1000
	}
	st.Dropped = cw.Dropped
	return st, cw.Close()
}
