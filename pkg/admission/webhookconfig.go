package admission

import (
	"errors"
	"fmt"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WebhookConfigOptions describe the ValidatingWebhookConfiguration to generate.
type WebhookConfigOptions struct {
	// Name of the configuration object (default "saker") and of its webhook (default
	// "admission.saker.dev"; it must be a fully qualified name).
	Name, WebhookName string
	// URL is the webhook's https URL; or Service (namespace/name, port, path) when it runs in
	// the cluster. Exactly one of the two.
	URL                                        string
	ServiceNamespace, ServiceName, ServicePath string
	ServicePort                                int32
	// CABundle is the PEM of the CA that signed the webhook's serving certificate.
	CABundle []byte
	// FailurePolicy is "Fail" (fail closed: requests are refused while the webhook cannot be
	// reached) or "Ignore" (fail open). Always written out; default Fail.
	FailurePolicy string
	// TimeoutSeconds (1..30, default 5).
	TimeoutSeconds int32
	// ExcludeNamespaces are left out by namespaceSelector, so the API server does not call
	// the webhook for them at all (e.g. the exempt namespaces).
	ExcludeNamespaces []string
	// Rules override the resources and operations sent (default DefaultWebhookRules).
	Rules []admissionregistrationv1.RuleWithOperations
}

// DefaultWebhookRules send what the ka.req.* fields read: pods (with exec, attach,
// port-forward and ephemeral containers), workloads, RBAC roles and bindings, config maps,
// services; on create, update and connect.
func DefaultWebhookRules() []admissionregistrationv1.RuleWithOperations {
	ops := []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update, admissionregistrationv1.Connect}
	rule := func(group, version string, resources ...string) admissionregistrationv1.RuleWithOperations {
		return admissionregistrationv1.RuleWithOperations{Operations: ops, Rule: admissionregistrationv1.Rule{
			APIGroups: []string{group}, APIVersions: []string{version}, Resources: resources}}
	}
	return []admissionregistrationv1.RuleWithOperations{
		rule("", "v1", "pods", "pods/exec", "pods/attach", "pods/portforward", "pods/ephemeralcontainers", "configmaps", "services"),
		rule("apps", "v1", "deployments", "daemonsets", "statefulsets", "replicasets"),
		rule("batch", "v1", "jobs", "cronjobs"),
		rule("rbac.authorization.k8s.io", "v1", "roles", "rolebindings", "clusterroles", "clusterrolebindings"),
	}
}

// WebhookConfiguration generates the ValidatingWebhookConfiguration that makes an API server
// call this webhook (admissionReviewVersions v1, sideEffects None, the failure policy
// explicit).
func WebhookConfiguration(o WebhookConfigOptions) (*admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	if o.Name == "" {
		o.Name = "saker"
	}
	if o.WebhookName == "" {
		o.WebhookName = "admission.saker.dev"
	}
	var fp admissionregistrationv1.FailurePolicyType
	switch o.FailurePolicy {
	case "", "Fail":
		fp = admissionregistrationv1.Fail
	case "Ignore":
		fp = admissionregistrationv1.Ignore
	default:
		return nil, fmt.Errorf("failure policy %q: Fail or Ignore", o.FailurePolicy)
	}
	if o.TimeoutSeconds == 0 {
		o.TimeoutSeconds = 5
	}
	if o.TimeoutSeconds < 1 || o.TimeoutSeconds > 30 {
		return nil, fmt.Errorf("timeout %ds: 1 to 30 seconds", o.TimeoutSeconds)
	}
	var cc admissionregistrationv1.WebhookClientConfig
	switch {
	case o.URL != "" && o.ServiceName != "":
		return nil, errors.New("webhook configuration: a URL or a service, not both")
	case o.URL != "":
		u := o.URL
		cc.URL = &u
	case o.ServiceName != "":
		if o.ServiceNamespace == "" {
			return nil, errors.New("webhook configuration: the service needs a namespace")
		}
		svc := &admissionregistrationv1.ServiceReference{Namespace: o.ServiceNamespace, Name: o.ServiceName}
		path := o.ServicePath
		if path == "" {
			path = DefaultPath
		}
		svc.Path = &path
		if o.ServicePort != 0 {
			p := o.ServicePort
			svc.Port = &p
		}
		cc.Service = svc
	default:
		return nil, errors.New("webhook configuration: a URL or a service is required")
	}
	cc.CABundle = o.CABundle
	rules := o.Rules
	if rules == nil {
		rules = DefaultWebhookRules()
	}
	side := admissionregistrationv1.SideEffectClassNone
	match := admissionregistrationv1.Equivalent
	timeout := o.TimeoutSeconds
	wh := admissionregistrationv1.ValidatingWebhook{
		Name: o.WebhookName, ClientConfig: cc, Rules: rules, FailurePolicy: &fp, MatchPolicy: &match,
		SideEffects: &side, TimeoutSeconds: &timeout, AdmissionReviewVersions: []string{"v1"},
	}
	if len(o.ExcludeNamespaces) > 0 {
		wh.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: o.ExcludeNamespaces}}}
	}
	return &admissionregistrationv1.ValidatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: o.Name, Labels: map[string]string{"app.kubernetes.io/name": "saker"}},
		Webhooks:   []admissionregistrationv1.ValidatingWebhook{wh},
	}, nil
}
