// Package admission is Saker's validating admission webhook (rule source `k8s_admission`): it
// decodes `admission.k8s.io/v1` AdmissionReview requests from the API server, presents each
// AdmissionRequest to the k8s audit field extractors as an audit-event-shaped document (so the
// `ka.*` and `jevt.*` fields read the object being admitted), evaluates the ruleset's
// k8s_admission rules on it and answers with an AdmissionReview response: a rule with
// `action: deny` rejects with its rendered output, `action: warn` adds an admission warning,
// the others (and every rule with `dryrun: true`) only alert. Requests from exempt namespaces,
// users and groups are admitted without evaluation. It also generates the
// ValidatingWebhookConfiguration that makes an API server call it.
package admission

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/k8saudit"
)

// SourceName is the rule `source:` of admission rules.
const SourceName = "k8s_admission"

// APIVersion and Kind of the reviews this webhook accepts and answers.
const (
	APIVersion = "admission.k8s.io/v1"
	ReviewKind = "AdmissionReview"
)

// FieldSource is the k8s_admission source: the k8s_audit catalogue and extractors (see
// k8saudit.FieldSource) under the name k8s_admission, over the documents Request.Event makes.
// Fields about the response (ka.response.*, ka.resp.*) have no value on admission.
type FieldSource struct {
	*k8saudit.FieldSource
}

// NewFieldSource returns the k8s_admission source.
func NewFieldSource() *FieldSource { return &FieldSource{k8saudit.NewFieldSource()} }

// Name is "k8s_admission".
func (*FieldSource) Name() string { return SourceName }

var _ fields.Source = (*FieldSource)(nil)

// Review is an AdmissionReview (the members this webhook reads and writes).
type Review struct {
	APIVersion string    `json:"apiVersion"`
	Kind       string    `json:"kind"`
	Request    *Request  `json:"request,omitempty"`
	Response   *Response `json:"response,omitempty"`
}

// GVK is a group, version and kind; GVR a group, version and resource.
type GVK struct {
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
}

type GVR struct {
	Group    string `json:"group"`
	Version  string `json:"version"`
	Resource string `json:"resource"`
}

// UserInfo is the requesting user.
type UserInfo struct {
	Username string              `json:"username,omitempty"`
	UID      string              `json:"uid,omitempty"`
	Groups   []string            `json:"groups,omitempty"`
	Extra    map[string][]string `json:"extra,omitempty"`
}

// Request is an AdmissionRequest.
type Request struct {
	UID         string          `json:"uid"`
	Kind        GVK             `json:"kind"`
	Resource    GVR             `json:"resource"`
	SubResource string          `json:"subResource,omitempty"`
	Name        string          `json:"name,omitempty"`
	Namespace   string          `json:"namespace,omitempty"`
	Operation   string          `json:"operation"`
	UserInfo    UserInfo        `json:"userInfo"`
	Object      json.RawMessage `json:"object,omitempty"`
	OldObject   json.RawMessage `json:"oldObject,omitempty"`
	DryRun      *bool           `json:"dryRun,omitempty"`
	Options     json.RawMessage `json:"options,omitempty"`
}

// Status is the metav1.Status of a denial.
type Status struct {
	Code    int32  `json:"code,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// Response is an AdmissionResponse.
type Response struct {
	UID      string   `json:"uid"`
	Allowed  bool     `json:"allowed"`
	Result   *Status  `json:"status,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// DecodeReview decodes and checks an AdmissionReview request body: apiVersion
// admission.k8s.io/v1, kind AdmissionReview, a request with a uid, an operation (CREATE,
// UPDATE, DELETE or CONNECT) and a resource; object and oldObject JSON objects or absent.
// The error says what is wrong.
func DecodeReview(data []byte) (*Review, error) {
	var rv Review
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&rv); err != nil {
		return nil, fmt.Errorf("AdmissionReview: %v", err)
	}
	if dec.More() {
		return nil, errors.New("AdmissionReview: data after the JSON document")
	}
	if rv.APIVersion != APIVersion || rv.Kind != ReviewKind {
		return nil, fmt.Errorf("AdmissionReview: expected apiVersion %s kind %s, got apiVersion %q kind %q", APIVersion, ReviewKind, rv.APIVersion, rv.Kind)
	}
	r := rv.Request
	if r == nil {
		return nil, errors.New("AdmissionReview: no request")
	}
	if r.UID == "" {
		return nil, errors.New("AdmissionReview: request has no uid")
	}
	switch r.Operation {
	case "CREATE", "UPDATE", "DELETE", "CONNECT":
	default:
		return nil, fmt.Errorf("AdmissionReview: request %s: unknown operation %q", r.UID, r.Operation)
	}
	if r.Resource.Resource == "" || r.Resource.Version == "" {
		return nil, fmt.Errorf("AdmissionReview: request %s: no resource", r.UID)
	}
	for _, o := range []struct {
		name string
		raw  json.RawMessage
	}{{"object", r.Object}, {"oldObject", r.OldObject}, {"options", r.Options}} {
		if len(o.raw) > 0 && o.raw[0] != '{' && string(o.raw) != "null" {
			return nil, fmt.Errorf("AdmissionReview: request %s: %s is not a JSON object", r.UID, o.name)
		}
	}
	return &rv, nil
}

// auditDoc is the audit-event shape a request is presented in.
type auditDoc struct {
	Kind          string          `json:"kind"`
	APIVersion    string          `json:"apiVersion"`
	Level         string          `json:"level"`
	AuditID       string          `json:"auditID"`
	Stage         string          `json:"stage"`
	RequestURI    string          `json:"requestURI"`
	Verb          string          `json:"verb"`
	User          UserInfo        `json:"user"`
	ImpUser       *UserInfo       `json:"impersonatedUser,omitempty"`
	ObjectRef     objectRef       `json:"objectRef"`
	RequestObject json.RawMessage `json:"requestObject,omitempty"`
	OldObject     json.RawMessage `json:"oldObject,omitempty"`
	Received      string          `json:"requestReceivedTimestamp"`
	StageTS       string          `json:"stageTimestamp"`
}

type objectRef struct {
	Resource    string `json:"resource"`
	Namespace   string `json:"namespace,omitempty"`
	Name        string `json:"name,omitempty"`
	APIGroup    string `json:"apiGroup,omitempty"`
	APIVersion  string `json:"apiVersion"`
	Subresource string `json:"subresource,omitempty"`
}

// verbs maps admission operations to the audit verbs of the same requests.
var verbs = map[string]string{"CREATE": "create", "UPDATE": "update", "DELETE": "delete", "CONNECT": "create"}

// Event presents the request as an audit event (stage ResponseComplete, auditID the request's
// uid, time now): verb from the operation (CONNECT, as exec and attach, is create), objectRef
// from the resource, namespace, name and subresource, requestObject the object (for CONNECT the
// connect options, e.g. PodExecOptions), requestURI the one the API server served (with exec's
// and attach's command and container as query parameters), user the requesting user.
func (r *Request) Event(now time.Time) (*k8saudit.Event, error) {
	ts := now.UTC().Format(time.RFC3339Nano)
	d := auditDoc{Kind: "Event", APIVersion: "audit.k8s.io/v1", Level: "RequestResponse", AuditID: r.UID,
		Stage: "ResponseComplete", RequestURI: r.uri(), Verb: verbs[r.Operation], User: r.UserInfo,
		ObjectRef: objectRef{Resource: r.Resource.Resource, Namespace: r.Namespace, Name: r.Name,
			APIGroup: r.Resource.Group, APIVersion: r.Resource.Version, Subresource: r.SubResource},
		Received: ts, StageTS: ts}
	if !isNull(r.Object) {
		d.RequestObject = r.Object
	}
	if !isNull(r.OldObject) {
		d.OldObject = r.OldObject
	}
	data, err := json.Marshal(&d)
	if err != nil {
		return nil, fmt.Errorf("admission request %s: %v", r.UID, err)
	}
	res, err := k8saudit.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("admission request %s: %v", r.UID, err)
	}
	if len(res.Events) != 1 {
		return nil, fmt.Errorf("admission request %s: %v", r.UID, errors.Join(res.Errs...))
	}
	return res.Events[0], nil
}

func isNull(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }

// uri is the request URI the API server served for the request (its query only for exec and
// attach, where rules read ka.uri.param[command]).
func (r *Request) uri() string {
	var b strings.Builder
	if r.Resource.Group == "" {
		b.WriteString("/api/" + r.Resource.Version)
	} else {
		b.WriteString("/apis/" + r.Resource.Group + "/" + r.Resource.Version)
	}
	if r.Namespace != "" {
		b.WriteString("/namespaces/" + url.PathEscape(r.Namespace))
	}
	b.WriteString("/" + r.Resource.Resource)
	if r.Name != "" && (r.Operation != "CREATE" || r.SubResource != "") {
		b.WriteString("/" + url.PathEscape(r.Name))
	}
	if r.SubResource != "" {
		b.WriteString("/" + r.SubResource)
	}
	if r.Operation == "CONNECT" && !isNull(r.Object) {
		var opts struct {
			Command   []string `json:"command"`
			Container string   `json:"container"`
		}
		if json.Unmarshal(r.Object, &opts) == nil {
			q := url.Values{}
			for _, c := range opts.Command {
				q.Add("command", c)
			}
			if opts.Container != "" {
				q.Set("container", opts.Container)
			}
			if len(q) > 0 {
				b.WriteString("?" + q.Encode())
			}
		}
	}
	return b.String()
}
