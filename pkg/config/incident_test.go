package config

import (
	"strings"
	"testing"
)

func TestIncidentsSection(t *testing.T) {
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if i := c.Incidents; i.Enabled || i.Window.D().Minutes() != 10 || i.Max != 10000 || i.MaxAge.D().Hours() != 168 || !i.OutputFields ||
		i.StorePath() != DefaultIncidentsPath {
		t.Fatalf("defaults %+v", i)
	}
	c, err = Load("", []string{"incidents.enabled=true", "incidents.path=/tmp/x.db", "incidents.window=2m"})
	if err != nil || c.Incidents.StorePath() != "/tmp/x.db" || c.Incidents.Window.D().Minutes() != 2 {
		t.Fatalf("%v %+v", err, c.Incidents)
	}
	for _, o := range []string{"incidents.window=0s", "incidents.max=0", "incidents.max_age=1m"} {
		_, err := Load("", []string{o})
		key := strings.SplitN(o, "=", 2)[0]
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: %v", o, err)
		}
	}
}
