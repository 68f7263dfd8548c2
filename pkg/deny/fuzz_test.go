package deny

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

func recordBytes(mask uint64, fd, pid int32, extra int) []byte {
	b := make([]byte, metaLen+extra)
	binary.NativeEndian.PutUint32(b[0:], uint32(metaLen+extra))
	b[4] = unix.FANOTIFY_METADATA_VERSION
	binary.NativeEndian.PutUint16(b[6:], metaLen)
	binary.NativeEndian.PutUint64(b[8:], mask)
	binary.NativeEndian.PutUint32(b[16:], uint32(fd))
	binary.NativeEndian.PutUint32(b[20:], uint32(pid))
	return b
}

func TestParseRecords(t *testing.T) {
	b := append(recordBytes(MaskOpen, 7, 1234, 0), recordBytes(MaskExec, 8, 99, 16)...)
	recs, err := ParseRecords(b, nil)
	if err != nil || len(recs) != 2 || recs[0] != (Record{MaskOpen, 7, 1234}) || recs[1] != (Record{MaskExec, 8, 99}) {
		t.Fatalf("%+v %v", recs, err)
	}
	bad := recordBytes(MaskOpen, 7, 1, 0)
	bad[4] = 2
	if _, err := ParseRecords(append(recordBytes(MaskOpen, 3, 1, 0), bad...), nil); err == nil || err.Error() != "fanotify: record at offset 24: metadata version 2, want 3" {
		t.Errorf("bad version: %v", err)
	}
	if _, err := ParseRecords(b[:30], nil); err == nil {
		t.Error("a cut record parsed")
	}
}

// FuzzParseRecords: records from the kernel never crash the parser, and each record it
// returns lies within the input.
func FuzzParseRecords(f *testing.F) {
	f.Add(recordBytes(MaskOpen, 7, 1234, 0))
	f.Add(append(recordBytes(MaskExec, 8, 99, 16), recordBytes(MaskOpen, -1, 0, 0)...))
	f.Add([]byte{0, 0, 0, 0, 3, 0, 24, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := ParseRecords(b, nil)
		if len(recs)*metaLen > len(b) {
			t.Fatalf("%d records from %d bytes", len(recs), len(b))
		}
		if err == nil && len(b) > 0 && len(recs) == 0 {
			t.Fatal("no error and no record from non-empty input")
		}
	})
}

func TestTrusted(t *testing.T) {
	for _, c := range []struct {
		comm, exe string
		allow     []string
		want      bool
	}{
		{"dockerd", "/usr/bin/dockerd", nil, true},
		{"containerd-shim", "/usr/bin/containerd-shim-runc-v2", nil, true},
		{"x", "/usr/bin/crun", nil, true},
		{"x", "/usr/bin/docker-proxy", nil, true},
		{"dockerd", "/tmp/evil", nil, false}, // comm is the process's own say
		{"x", "/opt/backup/bin/backup-agent", []string{"backup-agent"}, true},
		{"x", "/opt/backup/bin/backup-agent", []string{"/opt/backup/bin/*"}, true},
		{"backup-agent", "/tmp/backup-agent2", []string{"backup-agent"}, false},
	} {
		if got := trusted(c.comm, c.exe, c.allow); got != c.want {
			t.Errorf("trusted(%q, %q, %q) = %v", c.comm, c.exe, c.allow, got)
		}
	}
}
