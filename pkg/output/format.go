package output

import (
	"encoding/json"

	"github.com/saker-sec/saker/pkg/alert"
)

// Format says how an alert becomes a line (Falco's json_output, json_include_*_property and
// time_format_iso_8601 options).
type Format struct {
	JSON           bool // Falco's JSON schema instead of the text line
	IncludeOutput  bool // json_include_output_property: the "output" key
	IncludeTags    bool // json_include_tags_property: the "tags" key
	IncludeMessage bool // json_include_message_property: "message", the output without time and priority
	ISO8601        bool // time_format_iso_8601: the text line's time as 2006-01-02T15:04:05.000000000+0000
}

// DefaultFormat is Falco's default: text lines; in JSON, output and tags included.
var DefaultFormat = Format{IncludeOutput: true, IncludeTags: true}

// Text is the alert's text line: `<time>: <Priority> <output>`.
func (f Format) Text(a *alert.Alert) string {
	if !f.ISO8601 {
		return a.Text()
	}
	return a.Time.UTC().Format("2006-01-02T15:04:05.000000000") + "+0000: " + a.Priority.String() + " " + a.Output
}

// jsonAlert is Falco's JSON schema; keys in Falco's (alphabetical) order.
type jsonAlert struct {
	Hostname     string         `json:"hostname"`
	Message      *string        `json:"message,omitempty"`
	Output       *string        `json:"output,omitempty"`
	OutputFields map[string]any `json:"output_fields"`
	Priority     string         `json:"priority"`
	Rule         string         `json:"rule"`
	Source       string         `json:"source"`
	Tags         *[]string      `json:"tags,omitempty"`
	Time         string         `json:"time"`
}

// Line renders the alert as one line, without the trailing newline.
func (f Format) Line(a *alert.Alert) []byte {
	if !f.JSON {
		return []byte(f.Text(a))
	}
	b, err := json.Marshal(f.jsonValue(a))
	if err != nil {
		// output_fields values come from fields.JSON and are always encodable; keep the alert
		// rather than lose it if one is not.
		b, _ = json.Marshal(map[string]string{"rule": a.Rule, "priority": a.Priority.String(), "error": err.Error()})
	}
	return b
}

func (f Format) jsonValue(a *alert.Alert) *jsonAlert {
	j := &jsonAlert{
		Hostname:     a.Hostname,
		OutputFields: a.OutputFields,
		Priority:     a.Priority.String(),
		Rule:         a.Rule,
		Source:       a.Source,
		Time:         a.Time.UTC().Format("2006-01-02T15:04:05.000000000Z"),
	}
	if j.OutputFields == nil {
		j.OutputFields = map[string]any{}
	}
	if f.IncludeOutput {
		s := f.Text(a)
		j.Output = &s
	}
	if f.IncludeMessage {
		s := a.Output
		j.Message = &s
	}
	if f.IncludeTags {
		t := a.Tags
		if t == nil {
			t = []string{}
		}
		j.Tags = &t
	}
	return j
}
