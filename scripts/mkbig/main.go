// Command mkbig writes a large capture for throughput benchmarks: the metadata of a source
// capture followed by its events repeated N times, timestamps shifted so they keep increasing.
// The output is sysdig-compatible when the source is (old codes are written back as read).
//
//	go run ./scripts/mkbig -n 600 -o /tmp/big.scap ../shared/captures/sample.scap
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/scap"
)

func main() {
	n := flag.Int("n", 600, "repetitions")
	out := flag.String("o", "big.scap", "output capture")
	flag.Parse()
	if flag.NArg() != 1 {
		log.Fatal("usage: mkbig [-n N] [-o OUT] SOURCE.scap")
	}
	src := flag.Arg(0)
	f, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	w, err := scap.NewWriter(f, scap.WriterOptions{SysdigCompat: true})
	if err != nil {
		log.Fatal(err)
	}
	var shift, first, last uint64
	total := 0
	for i := 0; i < *n; i++ {
		r, err := scap.Open(src)
		if err != nil {
			log.Fatal(err)
		}
		if i == 0 {
			r.OnMetadata = func(r *scap.Reader) {
				if err := w.WriteMetadata(r); err != nil {
					log.Fatal(err)
				}
			}
		}
		var ev event.Event
		for {
			err := r.Next(&ev)
			if err == io.EOF {
				break
			}
			if err != nil {
				log.Fatal(err)
			}
			if first == 0 {
				first = ev.TS
			}
			ev.TS += shift
			last = ev.TS
			if err := w.WriteEvent(&ev); err != nil {
				log.Fatal(err)
			}
			total++
		}
		r.Close()
		shift = last - first + 1000
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
	f.Close()
	fmt.Printf("%s: %d events (%d dropped by the sysdig-compatible writer)\n", *out, total, w.Dropped)
}
