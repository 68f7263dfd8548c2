package k8saudit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/saker-sec/saker/pkg/fields"
)

// SourceName is the rule `source:` of audit events.
const SourceName = "k8s_audit"

// FieldSource is the k8s_audit source's fields.Source: the catalogue of
// shared/fields/k8saudit-fields.tsv (plus the jevt.* JSON fields) with extractors over *Event.
//
// Semantics follow Falco's k8saudit and json plugins: a value that is not a JSON string is
// its compact JSON text (numbers, booleans, objects: `ka.req.configmap.obj`,
// `ka.req.binding.subjects`); a missing key leaves the field without a value; list fields
// collect the value of every container (volume, rule...), skipping those that lack it, and an
// index argument (`ka.req.pod.containers.image[0]`) selects one element; an empty list is no
// value. Events without an auditID have no ka.* values (the plugin ignores them).
type FieldSource struct {
	// ClusterName is what ka.cluster.name yields (no value when empty).
	ClusterName string
	catalog     *fields.Catalog
}

// NewFieldSource returns the k8s_audit source.
func NewFieldSource() *FieldSource {
	return &FieldSource{catalog: fields.K8sAuditCatalog()}
}

func (s *FieldSource) Name() string                          { return SourceName }
func (s *FieldSource) Field(name string) (fields.Info, bool) { return s.catalog.Field(name) }
func (s *FieldSource) EventCodes(string) ([]uint16, bool)    { return nil, false }
func (s *FieldSource) NumEventCodes() int                    { return 1 }
func (s *FieldSource) EventSerial(ev fields.Event) (uint64, bool) {
	if e, ok := ev.(*Event); ok && e.num != 0 { // (0: an Event not made by Parse, unnumbered)
		return e.num, true
	}
	return 0, false
}

type getter func(e *Event) (fields.Value, bool)

// Extractor binds a field with its argument.
func (s *FieldSource) Extractor(info fields.Info, arg string) (fields.Extractor, error) {
	g, err := s.bind(info, arg)
	if err != nil {
		return nil, err
	}
	isKA := strings.HasPrefix(info.Name, "ka.")
	return func(ev fields.Event) (fields.Value, bool) {
		e, ok := ev.(*Event)
		if !ok || e.root == nil {
			return fields.Value{}, false
		}
		if isKA && e.root.get("auditID") == nil {
			return fields.Value{}, false
		}
		return g(e)
	}, nil
}

func str(s string) (fields.Value, bool) { return fields.Value{S: s}, true }

func strs(list []string) (fields.Value, bool) {
	if len(list) == 0 {
		return fields.Value{}, false
	}
	l := make([]fields.Value, len(list))
	for i, s := range list {
		l[i].S = s
	}
	return fields.Value{L: fields.ListOf(l)}, true
}

// scalar is the text of the value at keys.
func scalar(keys ...string) getter {
	return func(e *Event) (fields.Value, bool) {
		v := e.root.path(keys...)
		if v == nil {
			return fields.Value{}, false
		}
		return str(v.text())
	}
}

// array is the texts of the elements of the array at keys (no value when it is not one).
func array(keys ...string) getter {
	return func(e *Event) (fields.Value, bool) {
		v := e.root.path(keys...)
		if v == nil || v.kind != kArray {
			return fields.Value{}, false
		}
		out := make([]string, len(v.vals))
		for i, x := range v.vals {
			out[i] = x.text()
		}
		return strs(out)
	}
}

const noIndex = -1

// collect walks keys from v; at every array on the way it takes every element (index <
// 0: one result per element, nil where the rest of the path is missing) or the element at
// index. ok is false when the path is missing outside arrays.
func collectValues(v *value, index int, keys []string, out []*value) ([]*value, bool) {
	for i, k := range keys {
		if v.kind == kArray {
			if index < 0 {
				for _, x := range v.vals {
					var ok bool
					before := len(out)
					out, ok = collectValues(x, index, keys[i:], out)
					if !ok {
						out = append(out[:before], nil)
					}
				}
				return out, true
			}
			if index >= len(v.vals) {
				return out, false
			}
			v = v.vals[index]
		}
		v = v.get(k)
		if v == nil {
			return out, false
		}
	}
	return append(out, v), true
}

func textsSkipNil(vals []*value) []string {
	out := make([]string, 0, len(vals))
	for _, v := range vals {
		if v != nil {
			out = append(out, v.text())
		}
	}
	return out
}

func indexArg(info fields.Info, arg string) (int, error) {
	if arg == "" || !info.ArgIndex {
		return noIndex, nil
	}
	n, err := strconv.Atoi(arg)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("index argument %q is not a number", arg)
	}
	return n, nil
}

// recursive is a list field of the values at keys below every array (index selecting one).
func recursive(index int, keys ...string) getter {
	return func(e *Event) (fields.Value, bool) {
		vals, ok := collectValues(e.root, index, keys, nil)
		if !ok {
			return fields.Value{}, false
		}
		return strs(textsSkipNil(vals))
	}
}

// images is the image of each container of a list (containers, initContainers,
// ephemeralContainers); false when one lacks an image, as in the plugin.
func images(e *Event, list string, index int) ([]string, bool) {
	vals, ok := collectValues(e.root, index, []string{"requestObject", "spec", list, "image"}, nil)
	if !ok || len(vals) == 0 {
		return nil, false
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		if v == nil {
			return nil, false
		}
		out[i] = v.text()
	}
	return out, true
}

// repository is an image reference without tag or digest, as the plugin cuts it (at the
// first ':' then at '@').
func repository(image string) string {
	if i := strings.IndexByte(image, ':'); i >= 0 {
		image = image[:i]
	}
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	return image
}

func hostPorts(e *Event, list string, index int) ([]string, bool) {
	vals, ok := collectValues(e.root, index, []string{"requestObject", "spec", list, "ports"}, nil)
	if !ok {
		return nil, false
	}
	var out []string
	for _, ports := range vals {
		if ports == nil {
			continue
		}
		if ports.kind != kArray {
			return nil, false
		}
		for _, p := range ports.vals {
			if hp := p.get("hostPort"); hp != nil {
				out = append(out, hp.text())
			} else if cp := p.get("containerPort"); cp != nil {
				out = append(out, cp.text())
			}
		}
	}
	return out, true
}

// effective is a container's security-context setting, else the pod's, else "0".
func effective(e *Event, list string, index int, key string) ([]string, bool) {
	def := "0"
	if v := e.root.path("requestObject", "spec", "securityContext", key); v != nil {
		def = v.text()
	}
	vals, ok := collectValues(e.root, index, []string{"requestObject", "spec", list, "securityContext", key}, nil)
	if !ok {
		return nil, false
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		if v == nil {
			out[i] = def
		} else {
			out[i] = v.text()
		}
	}
	return out, true
}

// flatten is a list field of the elements of the arrays at keys below every array.
func flatten(index int, keys ...string) getter {
	return func(e *Event) (fields.Value, bool) {
		vals, ok := collectValues(e.root, index, keys, nil)
		if !ok {
			return fields.Value{}, false
		}
		var out []string
		for _, v := range vals {
			if v != nil && v.kind == kArray {
				out = append(out, textsSkipNil(v.vals)...)
			}
		}
		return strs(out)
	}
}

// containerField binds the per-container fields of one container list.
func containerField(list, sub string, index int) (getter, bool) {
	sc := func(keys ...string) getter {
		return recursive(index, append([]string{"requestObject", "spec", list, "securityContext"}, keys...)...)
	}
	switch sub {
	case "name":
		return recursive(index, "requestObject", "spec", list, "name"), true
	case "command":
		return flattenOrScalar(index, list, "command"), true
	case "args":
		return flattenOrScalar(index, list, "args"), true
	case "image":
		return func(e *Event) (fields.Value, bool) {
			l, ok := images(e, list, index)
			if !ok {
				return fields.Value{}, false
			}
			return strs(l)
		}, true
	case "image.repository":
		return func(e *Event) (fields.Value, bool) {
			l, ok := images(e, list, index)
			if !ok {
				return fields.Value{}, false
			}
			for i := range l {
				l[i] = repository(l[i])
			}
			return strs(l)
		}, true
	case "host_port":
		return func(e *Event) (fields.Value, bool) {
			l, ok := hostPorts(e, list, index)
			if !ok {
				return fields.Value{}, false
			}
			return strs(l)
		}, true
	case "privileged":
		return sc("privileged"), true
	case "allow_privilege_escalation":
		return sc("allowPrivilegeEscalation"), true
	case "read_only_fs":
		return sc("readOnlyRootFilesystem"), true
	case "run_as_user":
		return sc("runAsUser"), true
	case "run_as_group":
		return sc("runAsGroup"), true
	case "proc_mount":
		return sc("procMount"), true
	case "add_capabilities":
		return func(e *Event) (fields.Value, bool) {
			vals, ok := collectValues(e.root, index, []string{"requestObject", "spec", list, "securityContext", "capabilities", "add"}, nil)
			if !ok {
				return fields.Value{}, false
			}
			var out []string
			for _, v := range vals {
				switch {
				case v == nil:
				case v.kind == kArray:
					out = append(out, textsSkipNil(v.vals)...)
				default:
					out = append(out, v.text())
				}
			}
			return strs(out)
		}, true
	case "eff_run_as_user", "eff_run_as_group":
		key := "runAsUser"
		if sub == "eff_run_as_group" {
			key = "runAsGroup"
		}
		return func(e *Event) (fields.Value, bool) {
			l, ok := effective(e, list, index, key)
			if !ok {
				return fields.Value{}, false
			}
			return strs(l)
		}, true
	}
	return nil, false
}

// flattenOrScalar: a container's command and args are arrays; each of their strings is one
// value of the list.
func flattenOrScalar(index int, list, key string) getter {
	return func(e *Event) (fields.Value, bool) {
		vals, ok := collectValues(e.root, index, []string{"requestObject", "spec", list, key}, nil)
		if !ok {
			return fields.Value{}, false
		}
		var out []string
		for _, v := range vals {
			switch {
			case v == nil:
			case v.kind == kArray:
				out = append(out, textsSkipNil(v.vals)...)
			default:
				out = append(out, v.text())
			}
		}
		return strs(out)
	}
}

func (s *FieldSource) bind(info fields.Info, arg string) (getter, error) {
	idx, err := indexArg(info, arg)
	if err != nil {
		return nil, err
	}
	name := info.Name
	for _, list := range []string{"containers", "initContainers", "ephemeralContainers"} {
		if sub, ok := strings.CutPrefix(name, "ka.req.pod."+list+"."); ok {
			if g, ok := containerField(list, sub, idx); ok {
				return g, nil
			}
		}
	}
	ann := func(key string) getter { return scalar("annotations", key) }
	switch name {
	case "ka.auditid":
		return scalar("auditID"), nil
	case "ka.stage":
		return scalar("stage"), nil
	case "ka.auth.decision":
		return ann("authorization.k8s.io/decision"), nil
	case "ka.auth.reason":
		return ann("authorization.k8s.io/reason"), nil
	case "ka.auth.openshift.decision":
		return ann("authentication.openshift.io/decision"), nil
	case "ka.auth.openshift.username":
		return ann("authentication.openshift.io/username"), nil
	case "ka.validations.admission.policy.failure":
		return ann("validation.policy.admission.k8s.io/validation_failure"), nil
	case "ka.security.pod.violations":
		return ann("pod-security.kubernetes.io/audit-violations"), nil
	case "ka.user.name":
		return scalar("user", "username"), nil
	case "ka.user.groups":
		return array("user", "groups"), nil
	case "ka.impuser.name":
		return scalar("impersonatedUser", "username"), nil
	case "ka.verb":
		return scalar("verb"), nil
	case "ka.uri":
		return scalar("requestURI"), nil
	case "ka.uri.param":
		return uriParam(arg), nil
	case "ka.target.name", "ka.req.configmap.name":
		return scalar("objectRef", "name"), nil
	case "ka.target.namespace":
		return scalar("objectRef", "namespace"), nil
	case "ka.target.resource":
		return scalar("objectRef", "resource"), nil
	case "ka.target.subresource":
		return scalar("objectRef", "subresource"), nil
	case "ka.target.pod.name":
		return func(e *Event) (fields.Value, bool) {
			ref := e.root.get("objectRef")
			if r := ref.get("resource"); r == nil || r.kind != kString || r.str != "pods" {
				return fields.Value{}, false
			}
			n := ref.get("name")
			if n == nil {
				return fields.Value{}, false
			}
			return str(n.text())
		}, nil
	case "ka.req.binding.subjects":
		return array("requestObject", "subjects"), nil
	case "ka.req.binding.subjects.user_names":
		return subjects("User", false), nil
	case "ka.req.binding.subjects.group_names":
		return subjects("Group", false), nil
	case "ka.req.binding.subjects.serviceaccount_names":
		return subjects("ServiceAccount", false), nil
	case "ka.req.binding.subjects.serviceaccount_ns_names":
		return subjects("ServiceAccount", true), nil
	case "ka.req.binding.role":
		return scalar("requestObject", "roleRef", "name"), nil
	case "ka.req.binding.subject.has_name":
		// Deprecated: the plugin yields "true" whatever the argument (so do we).
		return func(*Event) (fields.Value, bool) { return str("true") }, nil
	case "ka.req.configmap.obj":
		return scalar("requestObject", "data"), nil
	case "ka.req.container.image":
		return func(e *Event) (fields.Value, bool) {
			l, ok := images(e, "containers", 0)
			if !ok {
				return fields.Value{}, false
			}
			return str(l[0])
		}, nil
	case "ka.req.container.image.repository":
		return func(e *Event) (fields.Value, bool) {
			l, ok := images(e, "containers", 0)
			if !ok {
				return fields.Value{}, false
			}
			return str(repository(l[0]))
		}, nil
	case "ka.req.pod.host_ipc":
		return scalar("requestObject", "spec", "hostIPC"), nil
	case "ka.req.pod.host_network", "ka.req.container.host_network":
		return scalar("requestObject", "spec", "hostNetwork"), nil
	case "ka.req.pod.host_pid":
		return scalar("requestObject", "spec", "hostPID"), nil
	case "ka.req.container.privileged":
		return func(e *Event) (fields.Value, bool) {
			vals, ok := collectValues(e.root, noIndex, []string{"requestObject", "spec", "containers", "securityContext", "privileged"}, nil)
			if !ok {
				return fields.Value{}, false
			}
			for _, v := range vals {
				if v != nil && v.kind == kTrue {
					return str("true")
				}
			}
			return str("false")
		}, nil
	case "ka.req.pod.run_as_user":
		return scalar("requestObject", "spec", "securityContext", "runAsUser"), nil
	case "ka.req.pod.run_as_group":
		return scalar("requestObject", "spec", "securityContext", "runAsGroup"), nil
	case "ka.req.pod.fs_group":
		return scalar("requestObject", "spec", "securityContext", "fsGroup"), nil
	case "ka.req.pod.supplemental_groups":
		return array("requestObject", "spec", "securityContext", "supplementalGroups"), nil
	case "ka.req.role.rules":
		return array("requestObject", "rules"), nil
	case "ka.req.role.rules.apiGroups":
		return flatten(idx, "requestObject", "rules", "apiGroups"), nil
	case "ka.req.role.rules.nonResourceURLs":
		return flatten(idx, "requestObject", "rules", "nonResourceURLs"), nil
	case "ka.req.role.rules.verbs":
		return flatten(idx, "requestObject", "rules", "verbs"), nil
	case "ka.req.role.rules.resources":
		return flatten(idx, "requestObject", "rules", "resources"), nil
	case "ka.req.service.type":
		return scalar("requestObject", "spec", "type"), nil
	case "ka.req.service.ports":
		return recursive(idx, "requestObject", "spec", "ports"), nil
	case "ka.req.pod.volumes.hostpath":
		return recursive(idx, "requestObject", "spec", "volumes", "hostPath", "path"), nil
	case "ka.req.volume.hostpath":
		return volumeHostPath(arg), nil
	case "ka.req.pod.volumes.flexvolume_driver":
		return recursive(idx, "requestObject", "spec", "volumes", "flexVolume", "driver"), nil
	case "ka.req.pod.volumes.volume_type":
		return func(e *Event) (fields.Value, bool) {
			vals, ok := collectValues(e.root, idx, []string{"requestObject", "spec", "volumes"}, nil)
			if !ok {
				return fields.Value{}, false
			}
			var out []string
			for _, v := range vals {
				vols := []*value{v}
				if v != nil && v.kind == kArray {
					vols = v.vals
				}
				for _, vol := range vols {
					if vol == nil || vol.kind != kObject {
						continue
					}
					for _, k := range vol.keys {
						if k != "name" {
							out = append(out, k)
						}
					}
				}
			}
			return strs(out)
		}, nil
	case "ka.resp.name":
		return scalar("responseObject", "metadata", "name"), nil
	case "ka.response.code":
		return scalar("responseStatus", "code"), nil
	case "ka.response.reason":
		return scalar("responseStatus", "reason"), nil
	case "ka.useragent":
		return scalar("userAgent"), nil
	case "ka.sourceips":
		return func(e *Event) (fields.Value, bool) {
			v := e.root.get("sourceIPs")
			if v == nil || v.kind != kArray {
				return fields.Value{}, false
			}
			if idx >= 0 {
				if idx >= len(v.vals) {
					return fields.Value{}, false
				}
				return str(v.vals[idx].text())
			}
			return strs(textsSkipNil(v.vals))
		}, nil
	case "ka.cluster.name":
		cluster := s.ClusterName
		return func(*Event) (fields.Value, bool) {
			if cluster == "" {
				return fields.Value{}, false
			}
			return str(cluster)
		}, nil
	case "jevt.value":
		return jsonPointer(arg)
	case "jevt.obj":
		return func(e *Event) (fields.Value, bool) {
			var b bytes.Buffer
			if err := json.Indent(&b, e.Data, "", "  "); err != nil {
				return fields.Value{}, false
			}
			return str(b.String())
		}, nil
	case "jevt.rawtime":
		return func(e *Event) (fields.Value, bool) { return fields.Value{N: e.TS}, true }, nil
	case "jevt.time":
		return func(e *Event) (fields.Value, bool) {
			t := e.Time()
			return str(fmt.Sprintf("%02d:%02d:%02d.%09d", t.Hour(), t.Minute(), t.Second(), t.Nanosecond()))
		}, nil
	case "jevt.time.iso8601":
		return func(e *Event) (fields.Value, bool) {
			return str(e.Time().Format("2006-01-02T15:04:05.000000000Z"))
		}, nil
	}
	return nil, fmt.Errorf("no extractor for field '%s'", name)
}

// subjects lists the binding's subjects of one kind, by name (with the namespace, `ns:name`).
func subjects(kind string, withNS bool) getter {
	return func(e *Event) (fields.Value, bool) {
		subj := e.root.path("requestObject", "subjects")
		if subj == nil || subj.kind != kArray {
			return fields.Value{}, false
		}
		var out []string
		for _, s := range subj.vals {
			k := s.get("kind")
			if k == nil || k.kind != kString || k.str != kind {
				continue
			}
			n := s.get("name")
			if n == nil {
				continue
			}
			name := n.text()
			if withNS {
				ns := ""
				if v := s.get("namespace"); v != nil {
					ns = v.text()
				}
				name = ns + ":" + name
			}
			out = append(out, name)
		}
		return strs(out)
	}
}

func uriParam(key string) getter {
	return func(e *Event) (fields.Value, bool) {
		v := e.root.get("requestURI")
		if v == nil {
			return fields.Value{}, false
		}
		u, err := url.Parse(v.text())
		if err != nil {
			return fields.Value{}, false
		}
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			return fields.Value{}, false
		}
		p := q[key]
		if len(p) == 0 {
			return fields.Value{}, false
		}
		return str(p[0])
	}
}

// volumeHostPath is the older ka.req.volume.hostpath[PATH]: "true" when a hostPath volume
// uses PATH (a prefix when PATH ends with '*'), else "false".
func volumeHostPath(arg string) getter {
	prefix, isPrefix := strings.CutSuffix(arg, "*")
	return func(e *Event) (fields.Value, bool) {
		vals, ok := collectValues(e.root, noIndex, []string{"requestObject", "spec", "volumes", "hostPath", "path"}, nil)
		if !ok {
			return fields.Value{}, false
		}
		for _, p := range textsSkipNil(vals) {
			if p == arg || (isPrefix && strings.HasPrefix(p, prefix)) {
				return str("true")
			}
		}
		return str("false")
	}
}

// jsonPointer binds jevt.value[/a/b/0]: RFC 6901, `~1` for '/', `~0` for '~'; arrays are
// indexed by number. A string value yields its text, anything else its JSON.
func jsonPointer(arg string) (getter, error) {
	if arg == "" {
		return nil, fmt.Errorf("jevt.value needs a JSON pointer argument")
	}
	p := strings.TrimPrefix(arg, "/")
	keys := strings.Split(p, "/")
	for i, k := range keys {
		k = strings.ReplaceAll(k, "~1", "/")
		keys[i] = strings.ReplaceAll(k, "~0", "~")
	}
	return func(e *Event) (fields.Value, bool) {
		v := e.root.path(keys...)
		if v == nil {
			return fields.Value{}, false
		}
		return str(v.text())
	}, nil
}
