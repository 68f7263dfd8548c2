package event

// Info is one row of the event table. The generator (./gen) replaces this file with the full
// table; until then it holds the row's shape.
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
	FlagTable string
}

// ParamType is a param's wire type (FORMAT.md).
type ParamType uint8
