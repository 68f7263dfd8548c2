package event

//go:generate go run ./gen -in ../../../shared/scap -out table_gen.go

// Event flags of the table's Flags column (EF_* in libs).
const (
	EFCreatesFD        = 0x1
	EFDestroysFD       = 0x2
	EFUsesFD           = 0x4
	EFReadsFromFD      = 0x8
	EFWritesToFD       = 0x10
	EFModifiesState    = 0x20
	EFUnused           = 0x40
	EFWaits            = 0x80
	EFSkipParseReset   = 0x100
	EFOldVersion       = 0x200
	EFLargePayload     = 0x800
	EFConverterManaged = 0x1000
)

// Info is one row of the event table (table_gen.go).
type Info struct {
	Code   uint16
	Name   string
	Dir    byte // 'E' enter, 'X' exit
	Flags  uint32
	Params []ParamInfo
}

// ParamInfo is one param of an event table row.
type ParamInfo struct {
	Name      string
	Type      ParamType
	FlagTable string // table in FlagTables that decodes the value, or ""
}

// ParamType is a param's wire type (FORMAT.md).
type ParamType uint8

// String returns the type's name as event-table.tsv spells it (e.g. "CHARBUF").
func (t ParamType) String() string {
	if int(t) < len(paramTypeNames) {
		return paramTypeNames[t]
	}
	return "ParamType(?)"
}

// Flag is one entry of a flag or enum table.
type Flag struct {
	Name  string
	Value uint32
}

// IsOld reports whether the row is an old version (EF_OLD_VERSION).
func (i *Info) IsOld() bool { return i.Flags&EFOldVersion != 0 }

// ParamIndex returns the index of the param called name, or -1.
func (i *Info) ParamIndex(name string) int {
	for j := range i.Params {
		if i.Params[j].Name == name {
			return j
		}
	}
	return -1
}

var byName = func() map[string][]uint16 {
	m := map[string][]uint16{}
	for i := range Table {
		m[Table[i].Name] = append(m[Table[i].Name], uint16(i))
	}
	return m
}()

// ByName returns every code with that event name: both directions, every version, in code order.
func ByName(name string) []uint16 { return byName[name] }

// Current returns the code of the current version of the event name in direction dir ('E' or
// 'X'), or 0xFFFF when there is none.
func Current(name string, dir byte) uint16 {
	for _, c := range byName[name] {
		if Table[c].Dir == dir {
			return currentCode[c]
		}
	}
	return 0xFFFF
}

// CurrentOf returns the current code of the same name and direction as code (code itself when
// it is current or out of the table).
func CurrentOf(code uint16) uint16 {
	if int(code) < len(currentCode) {
		return currentCode[code]
	}
	return code
}
