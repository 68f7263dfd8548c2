package main

import (
	"os"
	"testing"

	"github.com/google/pprof/profile"
)

// The profile `go build` optimizes the binary with (scripts/pgo.sh) must be a CPU profile of
// the event path as the code names it now: a profile whose hot functions were renamed or
// moved guides nothing, silently. Regenerate it with scripts/pgo.sh when this fails.
func TestDefaultProfileCoversTheEventPath(t *testing.T) {
	f, err := os.Open("default.pgo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		t.Fatalf("default.pgo: %v", err)
	}
	if len(p.SampleType) < 2 || p.SampleType[1].Type != "cpu" {
		t.Fatalf("default.pgo is not a CPU profile: sample types %v", p.SampleType)
	}
	// cumulative CPU per function: each sample counts once for every function on its stack
	cum := map[string]int64{}
	var total int64
	for _, s := range p.Sample {
		v := s.Value[1]
		total += v
		seen := map[string]bool{}
		for _, loc := range s.Location {
			for _, ln := range loc.Line {
				if n := ln.Function.Name; !seen[n] {
					seen[n] = true
					cum[n] += v
				}
			}
		}
	}
	if total == 0 {
		t.Fatal("default.pgo has no samples")
	}
	const pkg = "github.com/saker-sec/saker/pkg/"
	// the stages every event goes through, in a replay and live; each must carry a share
	for _, fn := range []string{
		pkg + "agent.(*CaptureSource).Run",
		pkg + "agent.(*ProbeSource).Run",
		pkg + "event.Decode",
		pkg + "event.(*Normalizer).Next",
		pkg + "state.(*Engine).Process",
		pkg + "rules/engine.(*SourceRules).Match",
	} {
		if share := float64(cum[fn]) / float64(total); share < 0.01 {
			t.Errorf("default.pgo: %s has %.2f%% of the samples (want at least 1%%): the profile is stale, run scripts/pgo.sh", fn, 100*share)
		}
	}
}
