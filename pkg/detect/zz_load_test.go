package detect

import (
	"os"
	"testing"

	"github.com/saker-sec/saker/pkg/scap"
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/state"
)

func BenchmarkZZLoad(b *testing.B) {
	b.Run("rules", func(b *testing.B) {
		for b.Loop() {
			upstreamDetector(b)
		}
	})
	b.Run("capmeta", func(b *testing.B) {
		for b.Loop() {
			d := New(stateOpts())
			f, _ := os.Open(sharedDir(b) + "/captures/curl_google.scap")
			r, _ := scap.NewReader(f)
			r.OnMetadata = func(r *scap.Reader) { d.LoadCapture(r) }
			var ev event.Event
			r.Next(&ev)
			f.Close()
		}
	})
}

func stateOpts() state.Options { return state.Options{} }
