package incident

import (
	"bufio"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/k8saudit"
	"github.com/saker-sec/saker/pkg/rules/loader"
)

// FuzzAudit feeds arbitrary audit payloads (what the webhook accepts) to the store: no input
// may crash it, and every incident it opens has an id, a kind and a subject.
func FuzzAudit(f *testing.F) {
	fh, err := os.Open("../k8saudit/testdata/apiserver-audit.jsonl")
	if err != nil {
		f.Fatal(err)
	}
	sc := bufio.NewScanner(fh)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f.Add(append([]byte(nil), sc.Bytes()...))
	}
	fh.Close()
	f.Add([]byte(`{"kind":"Event","auditID":"x","stage":"ResponseComplete","verb":"get","user":{"username":"system:serviceaccount:a:b"},` +
		`"objectRef":{"resource":"secrets","namespace":"a","name":"b-token"},"responseObject":{"type":"kubernetes.io/service-account-token",` +
		`"metadata":{"annotations":{"kubernetes.io/service-account.name":"b"}}},"stageTimestamp":"2026-12-02T06:00:02Z"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := k8saudit.Parse(data)
		if err != nil {
			return
		}
		now := time.Date(2026, 12, 2, 7, 40, 0, 0, time.UTC)
		s, err := Open(Options{Now: func() time.Time { return now }, FlushInterval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		for _, ev := range res.Events {
			s.Audit(ev, []*alert.Alert{{Rule: "r", Priority: loader.Critical, Time: ev.Time()}})
		}
		for _, in := range s.OpenIncidents() {
			if in.ID == "" || in.Kind == "" || in.Subject() == "" {
				t.Fatalf("incident %+v", in)
			}
			s.Alert(in.Namespace, in.Pod, in.PodUID, &alert.Alert{Rule: "x", Priority: loader.Warning, Time: in.Last})
		}
	})
}

// BenchmarkLookup is the cost a syscall rule's incident field adds to an event in a pod (a
// store with 1000 open incidents), beside a plain map read of the same key, the floor.
func BenchmarkLookup(b *testing.B) {
	s, err := Open(Options{FlushInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	plain := map[string]string{}
	for i := range 1000 {
		name := fmt.Sprintf("p%d", i)
		id := s.AuditAction(Action{Time: now, AuditID: name, User: "alice", Verb: "create", Resource: "pods", Subresource: "exec",
			Namespace: "team", Name: name})
		plain["team/"+name] = id
	}
	b.Run("store", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, ok := s.Lookup("team", "p500", "", now, FieldUser); !ok {
				b.Fatal("no incident")
			}
		}
	})
	b.Run("map", func(b *testing.B) {
		ns, name := "team", "p500"
		for range b.N {
			if _, ok := plain[ns+"/"+name]; !ok {
				b.Fatal("no entry")
			}
		}
	})
}
