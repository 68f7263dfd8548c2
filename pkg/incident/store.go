package incident

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/rules/loader"
)

// Quarantiner is told when an incident at Critical or above is open for a pod (Quarantine,
// again on every change of it) and when it closed (Release). Calls are made with the store's
// lock held: they must be quick and must not call the store. pkg/admission's Quarantine is
// one (through a small adapter in pkg/agent).
type Quarantiner interface {
	Quarantine(in *Incident)
	Release(in *Incident)
}

// Options configure a Store.
type Options struct {
	// Path is the SQLite file; "" keeps incidents in memory only.
	Path string
	// Window: an audit action and an alert join when the alert comes at most Window after
	// the incident's last step; an incident is open while its last step is younger.
	Window time.Duration
	// Max incidents kept in the file (the oldest by last activity go first), MaxAge the age
	// (since the last step) past which one is deleted.
	Max    int
	MaxAge time.Duration
	// MaxPods bounds the pods and service accounts the hot index follows (65536 when 0);
	// past it, context-only actions (creations, updates) of new pods are not followed.
	MaxPods int
	// Now is the clock (time.Now when nil): what closes incidents and ages the file.
	Now func() time.Time
	// Quarantine, when set, is told about open Critical+ incidents.
	Quarantine Quarantiner
	// FlushInterval is how often the writer persists changes (1s when 0).
	FlushInterval time.Duration
	Logger        *slog.Logger
}

// Skew is how much earlier than an incident's first step an alert may be and still join it
// (the clocks of the API server and the node differ a little).
const Skew = 5 * time.Second

type podEntry struct {
	ns, name, uid string
	sa            string // namespace/name of its service account
	owners        []Owner
	inc           *Incident
	touched       time.Time
	// pending are the latest alerts that joined nothing (the audit webhook delivers in
	// batches: an exec's event may come after the alerts it caused); an action opening an
	// incident takes those raised after it.
	pending []Step
}

// maxPending bounds a pod's pending alerts.
const maxPending = 8

// Store is the incident store. Its methods are safe for concurrent use.
type Store struct {
	opts Options
	log  *slog.Logger

	mu       sync.RWMutex
	pods     map[string]*podEntry // namespace/name
	sas      map[string]*Incident // namespace/name -> its token-read incident
	saPods   map[string][]string  // service account -> pods running as it
	rsOwner  map[string]Owner     // namespace/replicaset -> its owner
	quar     map[string]*Incident // quarantined, by id
	dirty    map[string]*Incident // to persist, by id
	seen     map[string]struct{}  // audit ids handled
	seenRing []string
	seenAt   int

	parser *parser // bound on first use (under mu)
	db     *db
	wake   chan struct{}
	stop   chan struct{}
	done   chan struct{}
	closed bool
	errMu  sync.Mutex
	err    error // the writer's last error
}

// Open opens (creating it when needed) the store of opts.Path, loads the incidents still
// open into the hot index and starts the writer. Close flushes and stops it.
func Open(opts Options) (*Store, error) {
	if opts.Window <= 0 {
		opts.Window = DefaultWindow
	}
	if opts.Max <= 0 {
		opts.Max = DefaultMax
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = DefaultMaxAge
	}
	if opts.MaxPods <= 0 {
		opts.MaxPods = 65536
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = time.Second
	}
	s := &Store{opts: opts, log: opts.Logger, pods: map[string]*podEntry{}, sas: map[string]*Incident{},
		saPods: map[string][]string{}, rsOwner: map[string]Owner{}, quar: map[string]*Incident{},
		dirty: map[string]*Incident{}, seen: map[string]struct{}{}, seenRing: make([]string, 8192),
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	if s.log == nil {
		s.log = slog.Default()
	}
	if opts.Path != "" {
		d, err := openDB(opts.Path, false)
		if err != nil {
			return nil, err
		}
		s.db = d
		open, err := d.since(opts.Now().Add(-opts.Window))
		if err != nil {
			d.close()
			return nil, err
		}
		s.mu.Lock()
		for _, in := range open {
			s.index(in)
			s.quarantine(in)
		}
		s.mu.Unlock()
	}
	go s.writer()
	return s, nil
}

// SetQuarantine sets (or replaces) the Quarantiner after Open (an admission webhook started
// later) and tells it the open Critical+ incidents.
func (s *Store) SetQuarantine(q Quarantiner) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.Quarantine = q
	for _, p := range s.pods {
		if p.inc != nil {
			s.quarantine(p.inc)
		}
	}
}

// Window is the join window.
func (s *Store) Window() time.Duration {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.opts.Window
}

// SetLimits changes the window and the file's bounds of a running store (a reload); zero
// values keep the current ones. A shorter window closes the incidents it leaves behind at
// the next sweep; the bounds apply at the next write.
func (s *Store) SetLimits(window time.Duration, max int, maxAge time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if window > 0 {
		s.opts.Window = window
	}
	if max > 0 {
		s.opts.Max = max
	}
	if maxAge > 0 {
		s.opts.MaxAge = maxAge
	}
}

// index puts a restored incident in the hot index.
func (s *Store) index(in *Incident) {
	if in.Pod != "" {
		p := s.pod(in.Namespace, in.Pod, in.PodUID, true)
		if p.inc == nil || p.inc.Last.Before(in.Last) {
			p.inc = in
			p.owners = in.Owners
		}
		if in.ServiceAccount != "" && in.Kind != KindTokenRead && p.sa == "" {
			p.sa = in.ServiceAccount
			s.saPods[p.sa] = append(s.saPods[p.sa], in.Namespace+"/"+in.Pod)
		}
	}
	if in.Kind == KindTokenRead && in.ServiceAccount != "" {
		s.sas[in.ServiceAccount] = in
	}
}

// pod returns the pod's entry, creating it when create is set (nil when the index is full).
// A uid different from the entry's is another pod of the same name: the entry starts anew.
func (s *Store) pod(ns, name, uid string, create bool) *podEntry {
	key := ns + "/" + name
	p := s.pods[key]
	if p != nil && uid != "" && p.uid != "" && p.uid != uid {
		if !create {
			return nil
		}
		p = nil
	}
	if p == nil {
		if !create {
			return nil
		}
		if len(s.pods) >= s.opts.MaxPods {
			return nil
		}
		p = &podEntry{ns: ns, name: name, uid: uid}
		s.pods[key] = p
	}
	if p.uid == "" {
		p.uid = uid
	}
	p.touched = s.opts.Now()
	return p
}

// openAt reports whether in is open for something happening at t.
func (s *Store) openAt(in *Incident, t time.Time) bool {
	return in != nil && !t.After(in.Last.Add(s.opts.Window)) && !t.Before(in.First.Add(-Skew))
}

// current is the incident a pod's event at t joins: the pod's own when open and opened by a
// notable action (exec, attach, port-forward, a privileged creation, a Critical alert), else
// its service account's open token-read incident, else the pod's own open context incident
// (its creation, an update, a secret read by its service account); nil when none.
func (s *Store) current(ns, name, uid string, t time.Time) *Incident {
	p := s.pods[ns+"/"+name]
	if p == nil || (uid != "" && p.uid != "" && p.uid != uid) {
		return nil
	}
	own := p.inc
	if !s.openAt(own, t) {
		own = nil
	}
	if own != nil && !contextKind(own.Kind) {
		return own
	}
	if p.sa != "" {
		if in := s.sas[p.sa]; s.openAt(in, t) {
			return in
		}
	}
	return own
}

// Field values of Lookup.
const (
	FieldID = iota
	FieldUser
	FieldVerb
	FieldChain
)

// Lookup returns one field (FieldID, FieldUser, FieldVerb, FieldChain) of the incident an
// event at t in pod namespace/name (uid when known) joins, false when none. It is a map read
// under a read lock: the syscall rules call it on the event path.
func (s *Store) Lookup(ns, name, uid string, t time.Time, field int) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	in := s.current(ns, name, uid, t)
	if in == nil {
		return "", false
	}
	switch field {
	case FieldID:
		return in.ID, true
	case FieldUser:
		return in.User, in.User != ""
	case FieldVerb:
		return in.Verb, in.Verb != ""
	case FieldChain:
		return in.chain, true
	}
	return "", false
}

// Open returns a copy of every open incident (by the store's clock), listed or not.
func (s *Store) OpenIncidents() []*Incident {
	now := s.opts.Now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	seen := map[*Incident]bool{}
	var out []*Incident
	add := func(in *Incident) {
		if in != nil && !seen[in] && !now.After(in.Last.Add(s.opts.Window)) {
			seen[in] = true
			out = append(out, in.clone())
		}
	}
	for _, p := range s.pods {
		add(p.inc)
	}
	for _, in := range s.sas {
		add(in)
	}
	return out
}

// Incident returns a copy of an incident of the hot index by id.
func (s *Store) Incident(id string) (*Incident, bool) {
	for _, in := range s.OpenIncidents() {
		if in.ID == id {
			return in, true
		}
	}
	return nil, false
}

// Alert joins an alert raised in pod namespace/name (uid when known) to the pod's open
// incident, else to its service account's open token-read incident; an alert at Critical or
// above in a pod with neither opens an incident of its own (KindAlert), a lesser one is kept
// pending (the latest 8 of a pod) for an API action whose audit event comes later (the
// webhook backend batches) and happened at most Skew after the alert. It returns the incident
// joined or opened ("" when none; a pending alert carries no incident fields).
func (s *Store) Alert(ns, name, uid string, a *alert.Alert) string {
	if ns == "" || name == "" {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.current(ns, name, uid, a.Time)
	st := alertStep(a)
	if in == nil {
		p := s.pod(ns, name, uid, true)
		if p == nil {
			return ""
		}
		if a.Priority > loader.Critical {
			if len(p.pending) >= maxPending {
				p.pending = append(p.pending[:0], p.pending[1:]...)
			}
			p.pending = append(p.pending, st)
			return ""
		}
		in = s.newIncident(KindAlert, p)
		p.inc = in
	}
	if in.Pod == "" || in.Namespace != ns || in.Pod != name {
		st.What += " in pod " + ns + "/" + name
	}
	s.addStep(in, st)
	return in.ID
}

func alertStep(a *alert.Alert) Step {
	src := a.Source
	if src == "" {
		src = "syscall"
	}
	return Step{Time: a.Time, Source: src, What: a.Rule, Priority: a.Priority.String()}
}

func (s *Store) newIncident(kind string, p *podEntry) *Incident {
	in := &Incident{ID: newID(), Kind: kind}
	if p != nil {
		in.Namespace, in.Pod, in.PodUID, in.Owners = p.ns, p.name, p.uid, p.owners
		if p.sa != "" && kind != KindTokenRead {
			in.ServiceAccount = p.sa
		}
	}
	return in
}

// addStep adds a step and brings persistence and quarantine up to date.
func (s *Store) addStep(in *Incident, st Step) {
	in.add(st)
	if in.Listed() {
		s.dirty[in.ID] = in
		s.kick()
	}
	s.quarantine(in)
}

func (s *Store) quarantine(in *Incident) {
	if s.opts.Quarantine == nil || in.Pod == "" || !in.Critical() {
		return
	}
	if in.Last.Add(s.opts.Window).Before(s.opts.Now()) {
		return
	}
	s.quar[in.ID] = in
	s.opts.Quarantine.Quarantine(in.clone())
}

func (s *Store) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// markSeen reports whether an audit id was seen before, and records it (bounded).
func (s *Store) markSeen(id string) bool {
	if id == "" {
		return false
	}
	if _, ok := s.seen[id]; ok {
		return true
	}
	if old := s.seenRing[s.seenAt]; old != "" {
		delete(s.seen, old)
	}
	s.seenRing[s.seenAt] = id
	s.seenAt = (s.seenAt + 1) % len(s.seenRing)
	s.seen[id] = struct{}{}
	return false
}

// sweep closes what the window left behind: releases quarantines, forgets pods and service
// accounts with nothing open.
func (s *Store) sweep() {
	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	closed := func(in *Incident) bool { return in == nil || now.After(in.Last.Add(s.opts.Window)) }
	for id, in := range s.quar {
		if closed(in) {
			delete(s.quar, id)
			if s.opts.Quarantine != nil {
				s.opts.Quarantine.Release(in.clone())
			}
		}
	}
	for k, p := range s.pods {
		if closed(p.inc) && now.Sub(p.touched) > s.opts.Window {
			delete(s.pods, k)
			if p.sa != "" {
				l := s.saPods[p.sa]
				for i, x := range l {
					if x == k {
						l = append(l[:i], l[i+1:]...)
						break
					}
				}
				if len(l) == 0 {
					delete(s.saPods, p.sa)
				} else {
					s.saPods[p.sa] = l
				}
			}
		}
	}
	for k, in := range s.sas {
		if closed(in) {
			delete(s.sas, k)
		}
	}
	if len(s.rsOwner) > s.opts.MaxPods {
		clear(s.rsOwner)
	}
}

// writer persists dirty incidents once per FlushInterval and sweeps.
func (s *Store) writer() {
	defer close(s.done)
	t := time.NewTicker(s.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			s.flush()
			return
		case <-t.C:
			s.sweep()
			s.flush()
		case <-s.wake:
			// coalesce: the ticker writes; a wake only makes sure the next tick has work
		}
	}
}

// Flush writes the changed incidents now (the writer does it every FlushInterval).
func (s *Store) Flush() error { return s.flush() }

func (s *Store) flush() error {
	s.mu.Lock()
	if len(s.dirty) == 0 || s.db == nil {
		clear(s.dirty)
		s.mu.Unlock()
		return nil
	}
	batch := make([]*Incident, 0, len(s.dirty))
	for _, in := range s.dirty {
		batch = append(batch, in.clone())
	}
	clear(s.dirty)
	max, maxAge := s.opts.Max, s.opts.MaxAge
	s.mu.Unlock()
	err := s.db.write(batch, s.opts.Now(), max, maxAge)
	if err != nil {
		s.log.Error("incidents: write", "path", s.opts.Path, "err", err)
	}
	s.errMu.Lock()
	s.err = err
	s.errMu.Unlock()
	return err
}

// Err is the writer's last error (nil when the last write succeeded).
func (s *Store) Err() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

// Close flushes what is not written yet and closes the file.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	<-s.done
	err := s.Err()
	if s.db != nil {
		err = errors.Join(err, s.db.close())
	}
	return err
}

// Describe is the incident in one line for a quarantine message: `inc-… (Critical, alice
// exec; rule X)`.
func Describe(in *Incident) string {
	var b strings.Builder
	b.WriteString(in.ID)
	b.WriteString(" (")
	if in.Severity != "" {
		b.WriteString(in.Severity)
	}
	if in.User != "" {
		fmt.Fprintf(&b, ", %s %s", in.User, in.Verb)
	}
	if n := len(in.Steps); n > 0 && in.Steps[n-1].Priority != "" {
		fmt.Fprintf(&b, ", last alert %q", in.Steps[n-1].What)
	}
	b.WriteString(")")
	return b.String()
}
