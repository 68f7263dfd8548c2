// Command gen generates pkg/event/table_gen.go from the scap event table and flag tables
// (event-table.tsv and flag-tables.tsv, see shared/scap/FORMAT.md).
//
// Usage (from pkg/event, via go generate):
//
//	go run ./gen -in ../../../shared/scap -out table_gen.go
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"go/format"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

const efOldVersion = 0x200

type param struct {
	name, typ, table string
}

type row struct {
	code   int
	dir    byte
	name   string
	flags  uint32
	params []param
}

type flagEntry struct {
	table, name string
	value       uint32
}

func main() {
	in := flag.String("in", "../../../shared/scap", "directory holding event-table.tsv and flag-tables.tsv")
	out := flag.String("out", "table_gen.go", "output file")
	flag.Parse()

	rows, err := readEvents(filepath.Join(*in, "event-table.tsv"))
	if err != nil {
		log.Fatal(err)
	}
	flags, err := readFlags(filepath.Join(*in, "flag-tables.tsv"))
	if err != nil {
		log.Fatal(err)
	}
	src, err := generate(rows, flags)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		log.Fatal(err)
	}
}

func readEvents(path string) ([]row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rows []row
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		t := sc.Text()
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		cols := strings.Split(t, "\t")
		if len(cols) < 5 {
			return nil, fmt.Errorf("%s:%d: want at least 5 columns, got %d", path, line, len(cols))
		}
		code, err := strconv.Atoi(cols[0])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: code: %v", path, line, err)
		}
		if code != len(rows) {
			return nil, fmt.Errorf("%s:%d: code %d out of sequence (want %d)", path, line, code, len(rows))
		}
		if cols[1] != "E" && cols[1] != "X" {
			return nil, fmt.Errorf("%s:%d: direction %q", path, line, cols[1])
		}
		fl, err := strconv.ParseUint(strings.TrimPrefix(cols[3], "0x"), 16, 32)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: flags: %v", path, line, err)
		}
		np, err := strconv.Atoi(cols[4])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: nparams: %v", path, line, err)
		}
		r := row{code: code, dir: cols[1][0], name: cols[2], flags: uint32(fl)}
		if len(cols) > 5 && cols[5] != "" {
			for _, p := range strings.Split(cols[5], ",") {
				parts := strings.Split(p, ":")
				if len(parts) < 2 || len(parts) > 3 {
					return nil, fmt.Errorf("%s:%d: param %q", path, line, p)
				}
				pp := param{name: parts[0], typ: parts[1]}
				if len(parts) == 3 {
					pp.table = parts[2]
				}
				r.params = append(r.params, pp)
			}
		}
		if len(r.params) != np {
			return nil, fmt.Errorf("%s:%d: nparams %d but %d params listed", path, line, np, len(r.params))
		}
		rows = append(rows, r)
	}
	return rows, sc.Err()
}

func readFlags(path string) ([]flagEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []flagEntry
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		t := sc.Text()
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		cols := strings.Split(t, "\t")
		if len(cols) != 3 {
			return nil, fmt.Errorf("%s:%d: want 3 columns, got %d", path, line, len(cols))
		}
		v, err := strconv.ParseUint(strings.TrimPrefix(cols[2], "0x"), 16, 32)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: value: %v", path, line, err)
		}
		out = append(out, flagEntry{cols[0], cols[1], uint32(v)})
	}
	return out, sc.Err()
}

func camel(s string) string {
	var b strings.Builder
	for _, part := range strings.Split(s, "_") {
		if part == "" {
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]))
		b.WriteString(strings.ToLower(part[1:]))
	}
	return b.String()
}

// aliases gives libs-style names (PPME_* categories) for events that are not plain syscalls.
var aliases = map[string]string{
	"procexit": "ProcExit", "switch": "SchedSwitch", "signaldeliver": "SignalDeliver",
	"page_fault": "PageFault", "container": "Container", "pluginevent": "Plugin",
	"asyncevent": "Async", "procinfo": "Procinfo", "drop": "Drop", "cpu_hotplug": "CpuHotplug",
	"notification": "Notification", "infra": "Infrastructure", "tracer": "Tracer",
	"useradded": "UserAdded", "userdeleted": "UserDeleted", "groupadded": "GroupAdded",
	"groupdeleted": "GroupDeleted", "scapevent": "Scapevent",
	"socket": "SocketSocket", "bind": "SocketBind", "connect": "SocketConnect", "listen": "SocketListen",
	"accept": "SocketAccept", "accept4": "SocketAccept4", "send": "SocketSend", "sendto": "SocketSendto",
	"recv": "SocketRecv", "recvfrom": "SocketRecvfrom", "shutdown": "SocketShutdown",
	"getsockname": "SocketGetsockname", "getpeername": "SocketGetpeername",
	"socketpair": "SocketSocketpair", "setsockopt": "SocketSetsockopt", "getsockopt": "SocketGetsockopt",
	"sendmsg": "SocketSendmsg", "sendmmsg": "SocketSendmmsg", "recvmsg": "SocketRecvmsg",
	"recvmmsg": "SocketRecvmmsg",
}

func generate(rows []row, flags []flagEntry) ([]byte, error) {
	var b bytes.Buffer
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("// Code generated by pkg/event/gen from shared/scap/event-table.tsv and flag-tables.tsv; DO NOT EDIT.\n\n")
	p("package event\n\n")

	// Param types.
	typeSet := map[string]bool{}
	for _, r := range rows {
		for _, pp := range r.params {
			typeSet[pp.typ] = true
		}
	}
	types := make([]string, 0, len(typeSet))
	for t := range typeSet {
		types = append(types, t)
	}
	sort.Strings(types)
	p("// Param wire types, one per TYPE of event-table.tsv (FORMAT.md describes each).\nconst (\n")
	p("\tPTNone ParamType = iota\n")
	for _, t := range types {
		p("\tPT%s\n", camel(t))
	}
	p(")\n\n")
	p("var paramTypeNames = [...]string{\"NONE\"")
	for _, t := range types {
		p(", %q", t)
	}
	p("}\n\n")

	// Current code per name+dir.
	type key struct {
		name string
		dir  byte
	}
	current := map[key]int{}
	currentOld := map[key]int{}
	for _, r := range rows {
		k := key{r.name, r.dir}
		if r.flags&efOldVersion == 0 {
			current[k] = r.code // highest non-old code wins
		} else {
			currentOld[k] = r.code
		}
	}
	for k, c := range currentOld {
		if _, ok := current[k]; !ok {
			current[k] = c // every version flagged old: the newest one is current
		}
	}
	keys := make([]key, 0, len(current))
	for k := range current {
		if k.name == "NA" {
			continue
		}
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return current[keys[i]] < current[keys[j]] })
	p("// Event codes of the current version of each event name and direction (E enter, X exit).\n")
	p("// Older versions (EF_OLD_VERSION) have no constant: Normalizer maps them to these.\nconst (\n")
	for _, k := range keys {
		p("\tSyscall%s%c uint16 = %d\n", camel(k.name), k.dir, current[k])
	}
	p(")\n\n")
	p("// Aliases in the libs naming (PPME_SOCKET_*, PPME_PROCEXIT_*, PPME_SCHEDSWITCH_*, ...).\nconst (\n")
	for _, k := range keys {
		if a, ok := aliases[k.name]; ok {
			p("\t%s%c = Syscall%s%c\n", a, k.dir, camel(k.name), k.dir)
		}
	}
	p(")\n\n")

	// Table.
	p("// NumEvents is the number of event codes in the table (codes 0..NumEvents-1).\nconst NumEvents = %d\n\n", len(rows))
	p("// Table is the event table, indexed by event code.\nvar Table = [NumEvents]Info{\n")
	for _, r := range rows {
		p("\t{Code: %d, Name: %q, Dir: '%c', Flags: 0x%x", r.code, r.name, r.dir, r.flags)
		if len(r.params) > 0 {
			p(", Params: []ParamInfo{")
			for i, pp := range r.params {
				if i > 0 {
					p(", ")
				}
				p("{Name: %q, Type: PT%s", pp.name, camel(pp.typ))
				if pp.table != "" {
					p(", FlagTable: %q", pp.table)
				}
				p("}")
			}
			p("}")
		}
		p("},\n")
	}
	p("}\n\n")

	// Current code per code.
	p("// currentCode maps every code to the current code of the same name and direction\n// (itself when it is current; NA rows map to themselves).\nvar currentCode = [NumEvents]uint16{")
	for i, r := range rows {
		if i%16 == 0 {
			p("\n\t")
		}
		c := r.code
		if r.name != "NA" {
			c = current[key{r.name, r.dir}]
		}
		p("%d, ", c)
	}
	p("\n}\n\n")

	// Flag tables.
	p("// FlagTables holds every flag and enum table, entries in the order of flag-tables.tsv.\nvar FlagTables = map[string][]Flag{\n")
	for i := 0; i < len(flags); {
		j := i
		p("\t%q: {", flags[i].table)
		for ; j < len(flags) && flags[j].table == flags[i].table; j++ {
			p("{%q, 0x%x}, ", flags[j].name, flags[j].value)
		}
		p("},\n")
		i = j
	}
	p("}\n")

	// Check that every referenced flag table exists.
	have := map[string]bool{}
	for _, f := range flags {
		have[f.table] = true
	}
	for _, r := range rows {
		for _, pp := range r.params {
			if pp.table != "" && !have[pp.table] {
				return nil, fmt.Errorf("event %d param %s: flag table %q not in flag-tables.tsv", r.code, pp.name, pp.table)
			}
		}
	}
	return format.Source(b.Bytes())
}
