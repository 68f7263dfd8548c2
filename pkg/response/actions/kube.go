package actions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/saker-sec/saker/pkg/container"
)

// QuarantineLabel is the pod label k8s_networkpolicy sets; the namespace's deny-all
// NetworkPolicy QuarantinePolicy selects it.
const (
	QuarantineLabel  = "saker.dev/quarantine"
	QuarantinePolicy = "saker-quarantine"
)

type kubeAction struct {
	kind string // label, annotate, delete, networkpolicy
}

func init() {
	for _, k := range []string{"label", "annotate", "delete", "networkpolicy"} {
		Register(kubeAction{k})
	}
}

func (k kubeAction) Spec() Spec {
	s := Spec{
		Name:  "k8s_" + k.kind + "_pod",
		Needs: []string{"k8s.pod.name", "k8s.ns.name (from the container's CRI labels, or the alert's output fields)"},
		Checks: []string{
			"needs a Kubernetes client (response.kubeconfig, or in-cluster credentials)",
			"refuses pods of the protected_namespaces (default kube-system) and Saker's own pod",
		},
		Params: []Param{{Name: "protected_namespaces", Type: TStrings, Default: []string{"kube-system"}, Description: "namespaces never touched"}},
	}
	switch k.kind {
	case "label":
		s.Description = "Set labels on the alert's pod (merge patch; an empty value removes the label)."
		s.Params = append(s.Params, Param{Name: "labels", Type: TMap, Required: true, Description: "labels to set"})
		s.Example = "- action: k8s_label_pod\n  with: {labels: {saker.dev/suspicious: \"true\"}}"
	case "annotate":
		s.Description = "Set annotations on the alert's pod (merge patch), e.g. the triggering rule."
		s.Params = append(s.Params, Param{Name: "annotations", Type: TMap, Required: true, Description: "annotations to set"})
		s.Example = "- action: k8s_annotate_pod\n  with: {annotations: {saker.dev/alert: \"shell in container\"}}"
	case "delete":
		s.Description = "Delete the alert's pod (its controller, if any, makes a new one)."
		s.Params = append(s.Params, Param{Name: "grace_period", Type: TDuration, Default: "0s", Description: "termination grace period"})
		s.Example = "- action: k8s_delete_pod\n  with: {grace_period: 5s}"
	case "networkpolicy":
		s.Name = "k8s_networkpolicy"
		s.Description = "Cut the alert's pod off the network with a deny-all NetworkPolicy: the pod gets the label " + QuarantineLabel +
			"=true and the namespace the policy " + QuarantinePolicy + " (ingress and egress, no rule) selecting it; enforced by the cluster's network plugin."
		s.Example = "- action: k8s_networkpolicy"
	}
	return s
}

func (k kubeAction) Check(p Params) error {
	if k.kind == "delete" && p.Duration("grace_period") < 0 {
		return errors.New("grace_period must not be negative")
	}
	return nil
}

// podOf finds the pod of the target: the CRI labels of its container, else the alert's
// k8s.ns.name and k8s.pod.name output fields.
func podOf(req *Request) (ns, name string) {
	if c := req.Target.Container; c != nil {
		ns, name = c.Labels[container.LabelPodNamespace], c.Labels[container.LabelPodName]
	}
	if (ns == "" || name == "") && req.Alert != nil {
		n, _ := req.Alert.OutputFields["k8s.ns.name"].(string)
		p, _ := req.Alert.OutputFields["k8s.pod.name"].(string)
		if n != "" && p != "" && n != "<NA>" && p != "<NA>" {
			ns, name = n, p
		}
	}
	return ns, name
}

func (k kubeAction) Run(ctx context.Context, env *Env, req *Request) Result {
	ns, name := podOf(req)
	res := Result{Target: "pod " + ns + "/" + name, Fields: map[string]any{"k8s.ns.name": ns, "k8s.pod.name": name}}
	if ns == "" || name == "" {
		res.Target = "pod"
		res.Outcome, res.Err = Failed, errors.New("the alert names no pod (no CRI labels, no k8s.ns.name/k8s.pod.name)")
		return res
	}
	if slices.Contains(req.Params.Strings("protected_namespaces"), ns) {
		res.Outcome, res.Err = Refused, fmt.Errorf("namespace %s is protected", ns)
		return res
	}
	if env.SelfPod != "" && env.SelfPod == ns+"/"+name {
		res.Outcome, res.Err = Refused, errors.New("Saker runs in this pod")
		return res
	}
	if env.Kube == nil {
		res.Outcome, res.Err = Failed, errors.New("no Kubernetes client configured (response.kubeconfig)")
		return res
	}
	if req.DryRun {
		res.Outcome = DryRun
		return res
	}
	pods := env.Kube.CoreV1().Pods(ns)
	patchMeta := func(field string, kv map[string]string) error {
		m := map[string]any{}
		for k, v := range kv {
			if v == "" {
				m[k] = nil // merge patch: remove
			} else {
				m[k] = v
			}
		}
		b, _ := json.Marshal(map[string]any{"metadata": map[string]any{field: m}})
		_, err := pods.Patch(ctx, name, types.MergePatchType, b, metav1.PatchOptions{FieldManager: "saker"})
		return err
	}
	var err error
	switch k.kind {
	case "label":
		err = patchMeta("labels", req.Params.Map("labels"))
	case "annotate":
		err = patchMeta("annotations", req.Params.Map("annotations"))
	case "delete":
		g := int64(req.Params.Duration("grace_period").Seconds())
		err = pods.Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &g})
	case "networkpolicy":
		if err = patchMeta("labels", map[string]string{QuarantineLabel: "true"}); err != nil {
			break
		}
		np := &networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: QuarantinePolicy, Namespace: ns, Labels: map[string]string{"app.kubernetes.io/managed-by": "saker"}},
			Spec: networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{QuarantineLabel: "true"}},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			},
		}
		_, err = env.Kube.NetworkingV1().NetworkPolicies(ns).Create(ctx, np, metav1.CreateOptions{FieldManager: "saker"})
		if apierrors.IsAlreadyExists(err) {
			err = nil // one policy per namespace selects every quarantined pod
		}
		res.Fields["networkpolicy"] = ns + "/" + QuarantinePolicy
	}
	if err != nil {
		res.Outcome, res.Err = Failed, err
		return res
	}
	res.Outcome = Done
	return res
}
