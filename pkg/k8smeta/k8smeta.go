// Package k8smeta keeps the Kubernetes API server's view of the pods of this node for the
// k8s.* syscall fields that the container runtime (CRI) cannot give: the pod's owners
// (ReplicaSet and its Deployment, DaemonSet, StatefulSet, Job and its CronJob,
// ReplicationController), the services whose selector matches the pod, and the labels of the
// pod's namespace and of the node.
//
// A Directory watches the API server with client-go informers, one watch per resource: pods
// field-selected to this node (spec.nodeName), the node itself (metadata.name), and the
// owners, services and namespaces of the cluster. Whenever something changes it rebuilds, off
// the event path, an immutable map from pod UID to container.PodMeta and publishes it
// atomically; PodMeta (what the event path calls, through container.Entry.Pod) is one atomic
// load and one map lookup. A pod not in the map yet (not listed or watched so far) is nil:
// the fields then fall back to the runtime's CRI labels.
//
// The service account needs get, list and watch on pods, nodes, namespaces, services and
// replicationcontrollers (core), replicasets, deployments, daemonsets and statefulsets (apps),
// jobs and cronjobs (batch); RBAC documents the rules.
package k8smeta

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/saker-sec/saker/pkg/container"
)

// RBAC is the ClusterRole rules a Directory needs, as YAML (for docs and the Helm chart).
const RBAC = `- apiGroups: [""]
  resources: [pods, nodes, namespaces, services, replicationcontrollers]
  verbs: [get, list, watch]
- apiGroups: [apps]
  resources: [replicasets, deployments, daemonsets, statefulsets]
  verbs: [get, list, watch]
- apiGroups: [batch]
  resources: [jobs, cronjobs]
  verbs: [get, list, watch]
`

// Config configures a Directory.
type Config struct {
	// Client talks to the API server.
	Client kubernetes.Interface
	// NodeName is this node's name: only its pods are watched.
	NodeName string
	// Debounce is how long a rebuild waits after a change for more changes (default 50ms).
	Debounce time.Duration
	Logger   *slog.Logger
}

// Directory is the pod metadata of one node, by pod UID. Its methods are safe for concurrent
// use; it implements container.Pods.
type Directory struct {
	cfg  Config
	log  *slog.Logger
	pods atomic.Pointer[map[string]*container.PodMeta]

	podInf, nodeInf, nsInf, svcInf, rcInf, rsInf, depInf, dsInf, stsInf, jobInf, cjInf cache.SharedIndexInformer

	dirty   chan struct{}
	synced  atomic.Bool
	builds  atomic.Uint64
	stop    context.CancelFunc
	done    chan struct{}
	started sync.Once
}

// New returns a Directory; Start begins watching.
func New(cfg Config) (*Directory, error) {
	if cfg.Client == nil {
		return nil, errors.New("k8smeta: no API client")
	}
	if cfg.NodeName == "" {
		return nil, errors.New("k8smeta: no node name")
	}
	if cfg.Debounce <= 0 {
		cfg.Debounce = 50 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	d := &Directory{cfg: cfg, log: cfg.Logger, dirty: make(chan struct{}, 1), done: make(chan struct{})}
	empty := map[string]*container.PodMeta{}
	d.pods.Store(&empty)
	return d, nil
}

// PodMeta implements container.Pods: the pod with that UID, nil when unknown.
func (d *Directory) PodMeta(uid string) *container.PodMeta { return (*d.pods.Load())[uid] }

// Generation implements container.Pods: it changes with every rebuild of the pod map.
func (d *Directory) Generation() uint64 { return d.builds.Load() }

// Node is the node whose pods the directory watches.
func (d *Directory) Node() string { return d.cfg.NodeName }

// Len is the number of pods the directory knows.
func (d *Directory) Len() int { return len(*d.pods.Load()) }

// Synced reports whether every watch has listed its resource once.
func (d *Directory) Synced() bool { return d.synced.Load() }

// Builds counts the rebuilds of the pod map.
func (d *Directory) Builds() uint64 { return d.builds.Load() }

// strip keeps what the fields read of an object (metadata without managed fields and
// annotations; a pod's node and IP; a service's selector), to keep the watch caches small.
func strip(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Pod:
		return &corev1.Pod{ObjectMeta: meta(o.ObjectMeta), Spec: corev1.PodSpec{NodeName: o.Spec.NodeName}, Status: corev1.PodStatus{PodIP: o.Status.PodIP}}, nil
	case *corev1.Service:
		return &corev1.Service{ObjectMeta: meta(o.ObjectMeta), Spec: corev1.ServiceSpec{Selector: o.Spec.Selector}}, nil
	case *corev1.Node:
		return &corev1.Node{ObjectMeta: meta(o.ObjectMeta)}, nil
	case *corev1.Namespace:
		return &corev1.Namespace{ObjectMeta: meta(o.ObjectMeta)}, nil
	case *corev1.ReplicationController:
		return &corev1.ReplicationController{ObjectMeta: meta(o.ObjectMeta)}, nil
	case *appsv1.ReplicaSet:
		return &appsv1.ReplicaSet{ObjectMeta: meta(o.ObjectMeta)}, nil
	case *appsv1.Deployment:
		return &appsv1.Deployment{ObjectMeta: meta(o.ObjectMeta)}, nil
	case *appsv1.DaemonSet:
		return &appsv1.DaemonSet{ObjectMeta: meta(o.ObjectMeta)}, nil
	case *appsv1.StatefulSet:
		return &appsv1.StatefulSet{ObjectMeta: meta(o.ObjectMeta)}, nil
	case *batchv1.Job:
		return &batchv1.Job{ObjectMeta: meta(o.ObjectMeta)}, nil
	case *batchv1.CronJob:
		return &batchv1.CronJob{ObjectMeta: meta(o.ObjectMeta)}, nil
	}
	return obj, nil // tombstones and the like
}

func meta(m metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, UID: m.UID, Labels: m.Labels,
		OwnerReferences: m.OwnerReferences, ResourceVersion: m.ResourceVersion}
}

// Start starts the watches and the rebuilder; they run until ctx ends or Close. It does not
// wait for the first lists (see WaitSynced).
func (d *Directory) Start(ctx context.Context) error {
	var err error
	d.started.Do(func() {
		ctx, d.stop = context.WithCancel(ctx)
		cs := d.cfg.Client
		node := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", d.cfg.NodeName).String()
		}))
		self := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", d.cfg.NodeName).String()
		}))
		all := informers.NewSharedInformerFactory(cs, 0)
		d.podInf = node.Core().V1().Pods().Informer()
		d.nodeInf = self.Core().V1().Nodes().Informer()
		d.nsInf = all.Core().V1().Namespaces().Informer()
		d.svcInf = all.Core().V1().Services().Informer()
		d.rcInf = all.Core().V1().ReplicationControllers().Informer()
		d.rsInf = all.Apps().V1().ReplicaSets().Informer()
		d.depInf = all.Apps().V1().Deployments().Informer()
		d.dsInf = all.Apps().V1().DaemonSets().Informer()
		d.stsInf = all.Apps().V1().StatefulSets().Informer()
		d.jobInf = all.Batch().V1().Jobs().Informer()
		d.cjInf = all.Batch().V1().CronJobs().Informer()
		h := cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { d.changed() },
			UpdateFunc: func(any, any) { d.changed() },
			DeleteFunc: func(any) { d.changed() },
		}
		for _, inf := range d.informers() {
			if err = inf.SetTransform(strip); err != nil {
				return
			}
			if _, err = inf.AddEventHandler(h); err != nil {
				return
			}
		}
		node.Start(ctx.Done())
		self.Start(ctx.Done())
		all.Start(ctx.Done())
		go d.rebuilder(ctx)
	})
	return err
}

func (d *Directory) informers() []cache.SharedIndexInformer {
	return []cache.SharedIndexInformer{d.podInf, d.nodeInf, d.nsInf, d.svcInf, d.rcInf, d.rsInf, d.depInf, d.dsInf, d.stsInf, d.jobInf, d.cjInf}
}

// WaitSynced waits until every watch has listed its resource once and the pod map was built
// from them, or ctx ends.
func (d *Directory) WaitSynced(ctx context.Context) error {
	var syncs []cache.InformerSynced
	for _, inf := range d.informers() {
		if inf == nil {
			return errors.New("k8smeta: not started")
		}
		syncs = append(syncs, inf.HasSynced)
	}
	if !cache.WaitForCacheSync(ctx.Done(), syncs...) {
		return fmt.Errorf("k8smeta: watches not synced: %w", ctx.Err())
	}
	for !d.synced.Load() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// Close stops the watches.
func (d *Directory) Close() {
	if d.stop != nil {
		d.stop()
		<-d.done
	}
}

func (d *Directory) changed() {
	select {
	case d.dirty <- struct{}{}:
	default:
	}
}

func (d *Directory) rebuilder(ctx context.Context) {
	defer close(d.done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.dirty:
		}
		// coalesce a burst (a relist delivers every object)
		t := time.NewTimer(d.cfg.Debounce)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		allSynced := true
		for _, inf := range d.informers() {
			allSynced = allSynced && inf.HasSynced()
		}
		d.build()
		if allSynced && !d.synced.Load() {
			d.synced.Store(true)
			d.log.Info("kubernetes metadata synced", "node", d.cfg.NodeName, "pods", d.Len())
		}
		if !allSynced {
			d.changed() // build again once everything has listed
		}
	}
}

// build recomputes the pod map from the watch caches and publishes it.
func (d *Directory) build() {
	idx := d.snapshot()
	next := make(map[string]*container.PodMeta, len(idx.pods))
	for _, p := range idx.pods {
		next[string(p.UID)] = idx.resolve(p)
	}
	d.pods.Store(&next)
	d.builds.Add(1)
}

func (d *Directory) snapshot() *index {
	x := &index{objs: map[string]map[string]metav1.Object{}, svcs: map[string][]service{}, kobjs: map[metav1.Object]*container.KObject{}}
	for _, o := range d.podInf.GetStore().List() {
		if p, ok := o.(*corev1.Pod); ok {
			x.pods = append(x.pods, p)
		}
	}
	if l := d.nodeInf.GetStore().List(); len(l) > 0 {
		for _, o := range l {
			if n, ok := o.(*corev1.Node); ok && n.Name == d.cfg.NodeName {
				x.node = n
			}
		}
	}
	for _, o := range d.svcInf.GetStore().List() {
		if s, ok := o.(*corev1.Service); ok && len(s.Spec.Selector) > 0 { // no selector: selects nothing
			x.svcs[s.Namespace] = append(x.svcs[s.Namespace], service{sel: labels.SelectorFromSet(s.Spec.Selector), obj: *kobject(s)})
		}
	}
	for _, l := range x.svcs {
		sort.Slice(l, func(i, j int) bool { return l[i].obj.Name < l[j].obj.Name })
	}
	for kind, inf := range map[string]cache.SharedIndexInformer{
		"Namespace": d.nsInf, "ReplicationController": d.rcInf, "ReplicaSet": d.rsInf, "Deployment": d.depInf,
		"DaemonSet": d.dsInf, "StatefulSet": d.stsInf, "Job": d.jobInf, "CronJob": d.cjInf,
	} {
		m := map[string]metav1.Object{}
		for _, o := range inf.GetStore().List() {
			if mo, ok := o.(metav1.Object); ok {
				m[mo.GetNamespace()+"/"+mo.GetName()] = mo
			}
		}
		x.objs[kind] = m
	}
	return x
}

// index is one consistent-enough view of the watch caches for a build.
type index struct {
	pods  []*corev1.Pod
	node  *corev1.Node
	svcs  map[string][]service                 // by namespace, sorted by name
	objs  map[string]map[string]metav1.Object  // kind → "ns/name" (namespaces: "/name")
	kobjs map[metav1.Object]*container.KObject // owners, namespaces and the node, made once per build
}

// service is a service with a selector, the selector parsed once per build.
type service struct {
	sel labels.Selector
	obj container.KObject
}

// kobject is the build's one KObject of a cached object (pods of the same owner share it).
func (x *index) kobject(m metav1.Object) *container.KObject {
	if k, ok := x.kobjs[m]; ok {
		return k
	}
	k := kobject(m)
	x.kobjs[m] = k
	return k
}

func kobject(m metav1.Object) *container.KObject {
	return &container.KObject{Name: m.GetName(), UID: string(m.GetUID()), Labels: m.GetLabels(), LabelsText: container.LabelsText(m.GetLabels())}
}

// owner is the object a reference names: from the watch cache when it is there (labels, and
// its own owners), else what the reference itself says (name and UID).
func (x *index) owner(ns string, ref metav1.OwnerReference) (*container.KObject, metav1.Object) {
	if o, ok := x.objs[ref.Kind][ns+"/"+ref.Name]; ok && (ref.UID == "" || o.GetUID() == ref.UID) {
		return x.kobject(o), o
	}
	return &container.KObject{Name: ref.Name, UID: string(ref.UID)}, nil
}

// controller is an object's controlling owner reference (else its first one).
func controller(refs []metav1.OwnerReference) (metav1.OwnerReference, bool) {
	for _, r := range refs {
		if r.Controller != nil && *r.Controller {
			return r, true
		}
	}
	if len(refs) > 0 {
		return refs[0], true
	}
	return metav1.OwnerReference{}, false
}

// resolve builds one pod's metadata.
func (x *index) resolve(p *corev1.Pod) *container.PodMeta {
	pm := &container.PodMeta{Pod: *kobject(p), IP: p.Status.PodIP, Namespace: container.KObject{Name: p.Namespace}}
	if ns, ok := x.objs["Namespace"]["/"+p.Namespace]; ok {
		pm.Namespace = *x.kobject(ns)
	}
	if x.node != nil {
		pm.Node = x.kobject(x.node)
	}
	if ref, ok := controller(p.OwnerReferences); ok {
		o, obj := x.owner(p.Namespace, ref)
		switch ref.Kind {
		case "ReplicaSet":
			pm.ReplicaSet = o
			if obj != nil {
				if up, ok := controller(obj.GetOwnerReferences()); ok && up.Kind == "Deployment" {
					pm.Deployment, _ = x.owner(p.Namespace, up)
				}
			}
		case "ReplicationController":
			pm.ReplicationController = o
		case "DaemonSet":
			pm.DaemonSet = o
		case "StatefulSet":
			pm.StatefulSet = o
		case "Job":
			pm.Job = o
			if obj != nil {
				if up, ok := controller(obj.GetOwnerReferences()); ok && up.Kind == "CronJob" {
					pm.CronJob, _ = x.owner(p.Namespace, up)
				}
			}
		}
	}
	set := labels.Set(p.Labels)
	for _, s := range x.svcs[p.Namespace] {
		if s.sel.Matches(set) {
			pm.Services = append(pm.Services, s.obj)
		}
	}
	if len(pm.Services) > 0 {
		names, uids, lbls := make([]string, 0, len(pm.Services)), make([]string, 0, len(pm.Services)), make([]string, 0, len(pm.Services))
		for _, s := range pm.Services {
			names = append(names, s.Name)
			uids = append(uids, s.UID)
			if s.LabelsText != "" {
				lbls = append(lbls, s.LabelsText)
			}
		}
		pm.SvcNames, pm.SvcUIDs, pm.SvcLabels = strings.Join(names, ", "), strings.Join(uids, ", "), strings.Join(lbls, ", ")
	}
	return pm
}

// NewClient is a client for the API server: from a kubeconfig file, or (kubeconfig empty)
// the in-cluster service account.
func NewClient(kubeconfig, userAgent string) (kubernetes.Interface, error) {
	var rc *rest.Config
	var err error
	switch {
	case kubeconfig != "":
		rc, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
	case os.Getenv("KUBERNETES_SERVICE_HOST") != "":
		rc, err = rest.InClusterConfig()
	default:
		return nil, errors.New("no kubeconfig given and not running in a pod (KUBERNETES_SERVICE_HOST unset)")
	}
	if err != nil {
		return nil, err
	}
	rc.UserAgent = userAgent
	return kubernetes.NewForConfig(rc)
}
