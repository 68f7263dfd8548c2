// Command mkbig writes a large capture for throughput benchmarks (scripts/bench.sh): the
// metadata of a source capture followed by its events repeated N times, timestamps moved on so
// they keep increasing, in the layout sysdig 0.29 reads (see scap.Repeat).
//
//	go run ./scripts/mkbig -n 1000 -o /tmp/curl1000.scap ../shared/captures/curl_google.scap
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"os"

	"github.com/saker-sec/saker/pkg/scap"
)

func main() {
	n := flag.Int("n", 600, "repetitions")
	out := flag.String("o", "big.scap", "output capture")
	flag.Parse()
	if flag.NArg() != 1 {
		log.Fatal("usage: mkbig [-n N] [-o OUT] SOURCE.scap")
	}
	f, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	st, err := scap.Repeat(bw, flag.Arg(0), *n)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %d events written (%d left out by the sysdig-compatible writer)\n", *out, st.Events-st.Dropped, st.Dropped)
}
