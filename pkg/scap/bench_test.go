package scap

import (
	"bytes"
	"io"
	"path/filepath"
	"testing"

	"github.com/saker-sec/saker/pkg/event"
)

// BenchmarkDecodeNormalize reads sample.scap (uncompressed, repeated 20 times as concatenated
// sections, in memory) and normalizes every event; it reports events/s.
func BenchmarkDecodeNormalize(b *testing.B) {
	var c captureInfo
	for _, ci := range readmeCaptures(b) {
		if filepath.Base(ci.file) == "sample.scap" {
			c = ci
		}
	}
	one := loadPlain(b, c.file)
	data := bytes.Repeat(one, 20)
	var ev event.Event
	var n event.Normalizer
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	total := 0
	for i := 0; i < b.N; i++ {
		r, err := NewReader(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		for {
			err := r.Next(&ev)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n.Next(&ev)
			total++
		}
	}
	if total != b.N*20*c.events {
		b.Fatalf("read %d events, want %d", total, b.N*20*c.events)
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkEventsOnly measures the steady state: events of one section, metadata excluded.
func BenchmarkEventsOnly(b *testing.B) {
	var c captureInfo
	for _, ci := range readmeCaptures(b) {
		if filepath.Base(ci.file) == "sample.scap" {
			c = ci
		}
	}
	data := loadPlain(b, c.file)
	var ev event.Event
	var n event.Normalizer
	b.ReportAllocs()
	total := 0
	var r *Reader
	b.ResetTimer()
	for total < b.N {
		b.StopTimer()
		r, _ = NewReader(bytes.NewReader(data))
		if err := r.ReadMetadata(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for total < b.N {
			if err := r.Next(&ev); err != nil {
				break
			}
			n.Next(&ev)
			total++
		}
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "events/s")
}
