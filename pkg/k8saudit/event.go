// Package k8saudit is Saker's Kubernetes audit event source (rule source `k8s_audit`): audit
// events (`audit.k8s.io/v1` Event and EventList, as kube-apiserver's webhook and log backends
// write them) parsed from webhook requests (Webhook) and files (Reader, OpenFile), the
// `ka.*` and `jevt.*` fields rules read from them (FieldSource, with the k8saudit plugin's
// semantics), and the evaluation of a compiled ruleset's k8s_audit rules on them (Detector),
// which yields alerts in Falco's JSON.
package k8saudit

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// ErrNotAudit is the error for data that is JSON but no audit event (the k8saudit plugin's
// wording).
var ErrNotAudit = errors.New("data not recognized as a k8s audit event")

// Event is one audit event.
type Event struct {
	// Data is the event's JSON text, as received (a slice of its request or file line).
	Data []byte
	// TS is the event time, stageTimestamp in nanoseconds since the epoch.
	TS   uint64
	num  uint64
	root *value
}

// Time is the event time (stageTimestamp).
func (e *Event) Time() time.Time { return time.Unix(0, int64(e.TS)).UTC() }

// Num is the event's serial number: unique within the process, never 0.
func (e *Event) Num() uint64 { return e.num }

// AuditID is the event's auditID ("" when absent).
func (e *Event) AuditID() string {
	if v := e.root.get("auditID"); v != nil && v.kind == kString {
		return v.str
	}
	return ""
}

var serial atomic.Uint64

// ParseResult is what a payload held: its events, and the items that were not usable events
// (each error names the item's position in the payload).
type ParseResult struct {
	Events []*Event
	Errs   []error
}

// Parse parses one payload: an EventList, a single Event (both recognised by `kind`, with or
// without `apiVersion`), or a JSON array of those. It fails with an error wrapping
// ErrNotAudit when the payload is no audit data at all (or not JSON); an item of a list that
// is no usable event (no or bad stageTimestamp) is reported in Errs and skipped.
func Parse(data []byte) (ParseResult, error) {
	root, err := parseJSON(data)
	if err != nil {
		return ParseResult{}, fmt.Errorf("%w (%v)", ErrNotAudit, err)
	}
	var res ParseResult
	if err := collect(root, &res, "", 0); err != nil {
		return ParseResult{}, err
	}
	return res, nil
}

func collect(v *value, res *ParseResult, where string, depth int) error {
	if v.kind == kArray {
		if depth > 8 {
			return ErrNotAudit
		}
		for i, e := range v.vals {
			if err := collect(e, res, fmt.Sprintf("%s[%d]", where, i), depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	k := v.get("kind")
	if v.kind != kObject || k == nil || k.kind != kString {
		return ErrNotAudit
	}
	switch k.str {
	case "EventList":
		items := v.get("items")
		if items == nil || items.kind != kArray {
			return ErrNotAudit
		}
		for i, it := range items.vals {
			ev, err := newEvent(it)
			if err != nil {
				res.Errs = append(res.Errs, fmt.Errorf("%sitems[%d]: %v", where, i, err))
				continue
			}
			res.Events = append(res.Events, ev)
		}
		return nil
	case "Event":
		ev, err := newEvent(v)
		if err != nil {
			if where != "" {
				err = fmt.Errorf("%s: %v", where, err)
			}
			res.Errs = append(res.Errs, err)
			return nil
		}
		res.Events = append(res.Events, ev)
		return nil
	}
	return ErrNotAudit
}

func newEvent(v *value) (*Event, error) {
	if v.kind != kObject {
		return nil, errors.New("audit event is not a JSON object")
	}
	st := v.get("stageTimestamp")
	if st == nil || st.kind != kString {
		return nil, errors.New("can't read stageTimestamp")
	}
	t, err := time.Parse(time.RFC3339Nano, st.str)
	if err != nil {
		return nil, fmt.Errorf("bad stageTimestamp %q: %v", st.str, err)
	}
	ns := t.UnixNano()
	if ns < 0 {
		ns = 0
	}
	return &Event{Data: v.raw, TS: uint64(ns), num: serial.Add(1), root: v}, nil
}
