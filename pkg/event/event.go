// Package event is Saker's event model: the scap event table (generated from
// shared/scap/event-table.tsv and flag-tables.tsv by ./gen), and one zero-copy decoder for
// events in the scap layout, whichever source they come from (a .scap file or the eBPF probe).
// Older event versions are normalized to the current code of the same name and direction, and
// the params of an old enter event are merged into the following exit of the same thread, so
// state and rules see one layout.
package event

// Event is one decoded event. Param values are slices into the record the event was decoded
// from; they are valid until the next event is read from the same source.
type Event struct {
	Num     uint64 // position in the stream, 1-based, counting every event (shown or not)
	TS      uint64 // nanoseconds since the epoch
	TID     int64
	CPU     uint16
	Type    uint16 // event code after normalization (current version of this name/direction)
	Flags   uint32 // block flags: FlagStateOnly (update state, do not show or match)
	Params  [MaxParams][]byte
	NParams int    // params present (Params[i] for i >= NParams are absent)
	Present uint64 // bit i set when param i of the current layout is present (not merely empty)
	Info    *Info  // table row of Type
	Raw     []byte // the raw record (header + lengths + values) as read

	// RawType is the event code as read, before normalization (equal to Type for current
	// versions).
	RawType uint16
}

// FlagStateOnly marks an event that updates state only (scap block flag 1).
const FlagStateOnly = 1

// MaxParams bounds the params of one event (the table's largest is 31).
const MaxParams = 40
