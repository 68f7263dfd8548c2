package k8smeta

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/saker-sec/saker/pkg/container"
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/state"
	"github.com/saker-sec/saker/pkg/sysfields"
)

var yes = true

func om(name, ns, uid string, labels map[string]string, owner ...metav1.OwnerReference) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID(uid), Labels: labels, OwnerReferences: owner}
}

func ref(kind, name, uid string) metav1.OwnerReference {
	return metav1.OwnerReference{Kind: kind, Name: name, UID: types.UID(uid), Controller: &yes}
}

func pod(name, uid string, labels map[string]string, owner ...metav1.OwnerReference) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: om(name, "ns1", uid, labels, owner...), Spec: corev1.PodSpec{NodeName: "n1"}, Status: corev1.PodStatus{PodIP: "10.1.2.3"}}
}

func started(t testing.TB, objs ...runtime.Object) *Directory {
	t.Helper()
	d, err := New(Config{Client: fake.NewClientset(objs...), NodeName: "n1", Debounce: time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestOwners resolves each kind of owner (the API objects through client-go's fake clientset
// and real informers), services by selector, namespace and node labels.
func TestOwners(t *testing.T) {
	d := started(t,
		&corev1.Node{ObjectMeta: om("n1", "", "node-uid", map[string]string{"zone": "a"})},
		&corev1.Namespace{ObjectMeta: om("ns1", "", "ns-uid", map[string]string{"team": "t"})},
		&appsv1.DaemonSet{ObjectMeta: om("ds", "ns1", "ds-uid", map[string]string{"k": "ds"})},
		pod("p-ds", "u1", map[string]string{"app": "a"}, ref("DaemonSet", "ds", "ds-uid")),
		&appsv1.StatefulSet{ObjectMeta: om("sts", "ns1", "sts-uid", nil)},
		pod("p-sts", "u2", nil, ref("StatefulSet", "sts", "sts-uid")),
		&batchv1.CronJob{ObjectMeta: om("cj", "ns1", "cj-uid", map[string]string{"k": "cj"})},
		&batchv1.Job{ObjectMeta: om("cj-123", "ns1", "job-uid", nil, ref("CronJob", "cj", "cj-uid"))},
		pod("p-job", "u3", nil, ref("Job", "cj-123", "job-uid")),
		&corev1.ReplicationController{ObjectMeta: om("rc", "ns1", "rc-uid", map[string]string{"k": "rc"})},
		pod("p-rc", "u4", nil, ref("ReplicationController", "rc", "rc-uid")),
		// a ReplicaSet the cache does not have: the reference's name and UID
		pod("p-rs", "u5", nil, ref("ReplicaSet", "gone", "rs-uid")),
		&appsv1.ReplicaSet{ObjectMeta: om("web-1", "ns1", "rs2-uid", nil, ref("Deployment", "web", "dep-uid"))},
		&appsv1.Deployment{ObjectMeta: om("web", "ns1", "dep-uid", map[string]string{"k": "dep"})},
		pod("p-dep", "u6", map[string]string{"app": "a", "x": "y"}, ref("ReplicaSet", "web-1", "rs2-uid")),
		&corev1.Service{ObjectMeta: om("s2", "ns1", "s2-uid", map[string]string{"l": "2"}), Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "a"}}},
		&corev1.Service{ObjectMeta: om("s1", "ns1", "s1-uid", map[string]string{"l": "1"}), Spec: corev1.ServiceSpec{Selector: map[string]string{"x": "y"}}},
		&corev1.Service{ObjectMeta: om("headless", "ns1", "s3-uid", nil)}, // no selector: selects nothing
		&corev1.Service{ObjectMeta: om("other", "ns2", "s4-uid", nil), Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "a"}}},
	)
	name := func(o *container.KObject) string {
		if o == nil {
			return "<nil>"
		}
		return o.Name + "/" + o.UID + "/" + o.LabelsText
	}
	p := d.PodMeta("u1")
	if p == nil || name(p.DaemonSet) != "ds/ds-uid/k:ds" || p.IP != "10.1.2.3" || name(&p.Namespace) != "ns1/ns-uid/team:t" ||
		name(p.Node) != "n1/node-uid/zone:a" || p.SvcNames != "s2" || p.ReplicaSet != nil {
		t.Fatalf("daemonset pod: %+v", p)
	}
	if p := d.PodMeta("u2"); p == nil || name(p.StatefulSet) != "sts/sts-uid/" || p.SvcNames != "" {
		t.Errorf("statefulset pod: %+v", p)
	}
	if p := d.PodMeta("u3"); p == nil || name(p.Job) != "cj-123/job-uid/" || name(p.CronJob) != "cj/cj-uid/k:cj" {
		t.Errorf("job pod: %+v", p)
	}
	if p := d.PodMeta("u4"); p == nil || name(p.ReplicationController) != "rc/rc-uid/k:rc" {
		t.Errorf("rc pod: %+v", p)
	}
	if p := d.PodMeta("u5"); p == nil || name(p.ReplicaSet) != "gone/rs-uid/" || p.Deployment != nil {
		t.Errorf("pod of an unknown replicaset: %+v", p)
	}
	p = d.PodMeta("u6")
	if p == nil || name(p.ReplicaSet) != "web-1/rs2-uid/" || name(p.Deployment) != "web/dep-uid/k:dep" ||
		p.SvcNames != "s1, s2" || p.SvcUIDs != "s1-uid, s2-uid" || p.SvcLabels != "l:1, l:2" || p.Pod.LabelsText != "app:a, x:y" {
		t.Errorf("deployment pod: %+v", p)
	}
	if d.PodMeta("nope") != nil {
		t.Error("unknown uid has metadata")
	}
}

// BenchmarkK8sFieldExtraction is the cost per syscall event of the k8s metadata lookup: the
// fields a rule's condition and output read (process, fd, container and the k8s.* ones CRI
// also gives) extracted without a pod directory (CRI only, as before) and with one of 5000
// pods built through real informers; "api" adds the fields only the directory serves.
func BenchmarkK8sFieldExtraction(b *testing.B) {
	const id = "3f2a9c1e5b7d4f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8"
	objs := []runtime.Object{
		&corev1.Node{ObjectMeta: om("n1", "", "node-uid", map[string]string{"zone": "a"})},
		&corev1.Namespace{ObjectMeta: om("ns1", "", "ns-uid", map[string]string{"team": "t"})},
		&appsv1.Deployment{ObjectMeta: om("web", "ns1", "dep-uid", map[string]string{"k": "dep"})},
		&corev1.Service{ObjectMeta: om("s", "ns1", "s-uid", nil), Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}}},
	}
	for i := 0; i < 5000; i++ {
		rs := fmt.Sprintf("web-%d", i/10)
		if i%10 == 0 {
			objs = append(objs, &appsv1.ReplicaSet{ObjectMeta: om(rs, "ns1", "rs-"+rs, nil, ref("Deployment", "web", "dep-uid"))})
		}
		objs = append(objs, pod(fmt.Sprintf("%s-%d", rs, i), fmt.Sprintf("uid-%d", i), map[string]string{"app": "web", "i": fmt.Sprint(i)}, ref("ReplicaSet", rs, "rs-"+rs)))
	}
	d := started(b, objs...)
	if d.Len() != 5000 {
		b.Fatalf("directory has %d pods", d.Len())
	}
	m := container.New(container.Config{Providers: []container.Provider{}})
	defer m.Close()
	m.Add(&container.Info{ID: id, Type: container.TypeDocker, Name: "app", Labels: map[string]string{
		container.LabelPodName: "web-250-2500", container.LabelPodNamespace: "ns1", container.LabelPodUID: "uid-2500"}})
	st := state.New(state.Options{Containers: m})
	st.AddThread(event.ThreadInfo{TID: 2000, PID: 2000, Comm: "cat", Exe: "/bin/cat", Cwd: "/", Cgroups: []string{"cpu=/docker/" + id}})
	ctx := &state.Context{Thread: st.Thread(2000), Ev: &event.Event{TS: 1, TID: 2000}}
	src := sysfields.NewSource(st)
	bind := func(names ...string) []fields.Extractor {
		var out []fields.Extractor
		for _, n := range names {
			name, arg, _ := strings.Cut(strings.TrimSuffix(n, "]"), "[")
			info, ok := src.Field(name)
			if !ok {
				b.Fatalf("no field %s", n)
			}
			x, err := src.Extractor(info, arg)
			if err != nil {
				b.Fatal(err)
			}
			out = append(out, x)
		}
		return out
	}
	cri := bind("proc.name", "container.id", "container.name", "k8s.pod.name", "k8s.ns.name", "k8s.pod.uid")
	api := bind("k8s.deployment.name", "k8s.rs.name", "k8s.svc.name", "k8s.ns.label[team]", "k8s.node.label[zone]")
	run := func(b *testing.B, xs []fields.Extractor, want int) {
		for i := 0; i < b.N; i++ {
			n := 0
			for _, x := range xs {
				if _, ok := x(ctx); ok {
					n++
				}
			}
			if n != want {
				b.Fatalf("%d of %d fields have a value, want %d", n, len(xs), want)
			}
		}
	}
	b.Run("cri-only", func(b *testing.B) { m.SetPods(nil); run(b, cri, len(cri)) })
	b.Run("directory-5000", func(b *testing.B) { m.SetPods(d); run(b, cri, len(cri)) })
	b.Run("cri-only+api-fields", func(b *testing.B) { m.SetPods(nil); run(b, append(cri, api...), len(cri)) })
	b.Run("directory-5000+api-fields", func(b *testing.B) { m.SetPods(d); run(b, append(cri, api...), len(cri)+len(api)) })
	// off the event path: one rebuild of the 5000 pods' map (after a change, debounced)
	b.Run("rebuild-5000", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			d.build()
		}
	})
}
