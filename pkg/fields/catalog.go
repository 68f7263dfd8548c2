package fields

import "strings"

// Catalog is the set of fields of one event source, by name.
type Catalog struct {
	fields []Info
	byName map[string]int
}

// NewCatalog builds a catalogue from field descriptions; later entries with a name already
// present are ignored.
func NewCatalog(infos []Info) *Catalog {
	c := &Catalog{byName: make(map[string]int, len(infos))}
	for _, f := range infos {
		if _, dup := c.byName[f.Name]; dup {
			continue
		}
		c.byName[f.Name] = len(c.fields)
		c.fields = append(c.fields, f)
	}
	return c
}

var (
	syscallCatalog  = NewCatalog(numericIndex(syscallFields, "proc.aname", "proc.apid"))
	k8sAuditCatalog = NewCatalog(k8sAuditFields)
)

// numericIndex marks the named fields as taking only a numeric index (libsinsp parses their
// argument as a number and rejects anything else, though its field table does not say so),
// so `proc.aname[abc]` is an error at load time.
func numericIndex(infos []Info, names ...string) []Info {
	out := append([]Info(nil), infos...)
	for i := range out {
		for _, n := range names {
			if out[i].Name == n {
				out[i].ArgIndex = true
			}
		}
	}
	return out
}

// SyscallCatalog is the catalogue of the syscall source: libsinsp's fields plus the container
// and k8s metadata fields (Falco's container plugin).
func SyscallCatalog() *Catalog { return syscallCatalog }

// K8sAuditCatalog is the catalogue of the k8s_audit source (ka.* and jevt.* fields).
func K8sAuditCatalog() *Catalog { return k8sAuditCatalog }

// Field looks a field up by its exact name.
func (c *Catalog) Field(name string) (Info, bool) {
	i, ok := c.byName[name]
	if !ok {
		return Info{}, false
	}
	return c.fields[i], true
}

// Fields lists the catalogue in its defined order.
func (c *Catalog) Fields() []Info { return c.fields }

// Resolve finds the field a reference names. A name that is not a field itself may be a field
// that takes an argument followed by a dotted argument (`evt.arg.flags` is evt.arg with
// argument "flags"); the longest such field wins. It returns the field, the dotted argument
// ("" when none) and whether the name was resolved.
func Resolve(lookup func(string) (Info, bool), name string) (Info, string, bool) {
	if f, ok := lookup(name); ok {
		return f, "", true
	}
	for i := strings.LastIndexByte(name, '.'); i > 0; i = strings.LastIndexByte(name[:i], '.') {
		f, ok := lookup(name[:i])
		if ok && f.Arg != ArgNone && i+1 < len(name) {
			return f, name[i+1:], true
		}
	}
	return Info{}, "", false
}
