package k8saudit

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

// Source yields audit events: a file (OpenFile) or the webhook (Webhook).
type Source interface {
	// Next returns the next event, waiting for one; io.EOF when the source has ended (a
	// file's end, a closed webhook whose queue is drained), ctx.Err() when ctx ends first.
	Next(ctx context.Context) (*Event, error)
	// Close releases the source.
	Close() error
}

// MaxDocumentBytes bounds one JSON document of a file (a line, or a multi-line document).
const MaxDocumentBytes = 64 << 20

// Reader reads audit events from a stream of JSON documents: JSON lines as the log backend
// writes them (one Event per line), one EventList document (also pretty-printed over many
// lines), or any mix; blank lines are skipped. Data that is no audit event is reported to
// Warn (`NAME:LINE: data not recognized as a k8s audit event`) and skipped; reading goes on
// with the next line.
type Reader struct {
	name string
	br   *bufio.Reader
	line int
	// Warn receives each skipped document or item (default: nothing; OpenFile writes to
	// stderr).
	Warn func(error)
	// Skipped counts what Warn was told about.
	Skipped uint64
	// MaxLineBytes bounds a line (default MaxDocumentBytes); longer ones are skipped.
	MaxLineBytes int

	back    []srcLine // lines to read again (after a failed multi-line document)
	pending []srcLine
	size    int
	queue   []*Event
	eof     bool
}

type srcLine struct {
	n    int
	text []byte
}

// NewReader reads r; name prefixes warnings (a file name).
func NewReader(r io.Reader, name string) *Reader {
	return &Reader{name: name, br: bufio.NewReaderSize(r, 256<<10)}
}

func (r *Reader) warn(line int, err error) {
	r.Skipped++
	if r.Warn != nil {
		r.Warn(fmt.Errorf("%s:%d: %w", r.name, line, err))
	}
}

func (r *Reader) nextLine() (srcLine, bool, error) {
	if len(r.back) > 0 {
		l := r.back[0]
		r.back = r.back[1:]
		return l, true, nil
	}
	for {
		if r.eof {
			return srcLine{}, false, nil
		}
		text, long, err := r.readLine()
		if err != nil {
			return srcLine{}, false, fmt.Errorf("%s:%d: %v", r.name, r.line+1, err)
		}
		if len(text) == 0 && !long && r.eof {
			return srcLine{}, false, nil
		}
		r.line++
		if long {
			r.warn(r.line, fmt.Errorf("%w (line longer than %d bytes)", ErrNotAudit, r.maxLine()))
			continue
		}
		return srcLine{n: r.line, text: text}, true, nil
	}
}

func (r *Reader) maxLine() int {
	if r.MaxLineBytes > 0 {
		return r.MaxLineBytes
	}
	return MaxDocumentBytes
}

// readLine reads one line (with its newline); a line longer than the limit is consumed and
// reported as long, never held in memory whole.
func (r *Reader) readLine() (text []byte, long bool, err error) {
	max := r.maxLine()
	for {
		chunk, err := r.br.ReadSlice('\n')
		if !long {
			if len(text)+len(chunk) > max {
				long, text = true, nil
			} else {
				text = append(text, chunk...)
			}
		}
		switch err {
		case nil:
			return text, long, nil
		case bufio.ErrBufferFull:
			continue
		case io.EOF:
			r.eof = true
			return text, long, nil
		default:
			return nil, false, err
		}
	}
}

// Next returns the next event, io.EOF after the last.
func (r *Reader) Next() (*Event, error) {
	for len(r.queue) == 0 {
		l, ok, err := r.nextLine()
		if err != nil {
			return nil, err
		}
		if !ok {
			if len(r.pending) == 0 {
				return nil, io.EOF
			}
			r.fail(errors.New("data not recognized as a k8s audit event (incomplete JSON document)"))
			continue
		}
		if len(r.pending) == 0 {
			t := bytes.TrimSpace(l.text)
			if len(t) == 0 {
				continue
			}
			if t[0] != '{' && t[0] != '[' {
				r.warn(l.n, ErrNotAudit)
				continue
			}
		}
		r.pending = append(r.pending, l)
		r.size += len(l.text)
		if r.size > MaxDocumentBytes {
			r.fail(fmt.Errorf("%w (JSON document larger than %d bytes)", ErrNotAudit, MaxDocumentBytes))
			continue
		}
		doc := r.document()
		if complete, bad := balanced(doc); bad {
			r.fail(ErrNotAudit)
			continue
		} else if !complete {
			continue
		}
		start := r.pending[0].n
		res, err := Parse(doc)
		if err != nil {
			r.fail(err)
			continue
		}
		r.pending, r.size = r.pending[:0], 0
		for _, e := range res.Errs {
			r.warn(start, fmt.Errorf("%w: %v", ErrNotAudit, e))
		}
		r.queue = append(r.queue, res.Events...)
	}
	ev := r.queue[0]
	r.queue = r.queue[1:]
	return ev, nil
}

// fail reports the pending document's first line and reads the lines after it again, so a
// broken line does not swallow the events that follow it.
func (r *Reader) fail(err error) {
	first := r.pending[0]
	r.warn(first.n, err)
	rest := append([]srcLine(nil), r.pending[1:]...)
	r.back = append(rest, r.back...)
	r.pending, r.size = r.pending[:0], 0
}

func (r *Reader) document() []byte {
	if len(r.pending) == 1 {
		return r.pending[0].text
	}
	var b []byte
	for _, l := range r.pending {
		b = append(b, l.text...)
	}
	return b
}

// balanced scans doc for brackets outside strings: complete when a value opened and closed
// (anything else but white space after it makes it bad), bad when brackets do not pair.
func balanced(doc []byte) (complete, bad bool) {
	depth, in, closed := 0, false, false
	for i := 0; i < len(doc); i++ {
		c := doc[i]
		if in {
			if c == '\\' {
				i++
			} else if c == '"' {
				in = false
			}
			continue
		}
		if closed {
			switch c {
			case ' ', '\t', '\r', '\n':
				continue
			}
			return false, true
		}
		switch c {
		case '"':
			in = true
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth < 0 {
				return false, true
			}
			if depth == 0 {
				closed = true
			}
		}
	}
	return closed, false
}

// FileSource is a Source over a file of audit events (gzip-compressed files too).
type FileSource struct {
	*Reader
	f *os.File
	z *gzip.Reader
}

// OpenFile opens a file of audit events as a Source. Warnings about skipped data go to
// warn (nil: standard error).
func OpenFile(path string, warn func(error)) (*FileSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReader(f)
	var in io.Reader = br
	var z *gzip.Reader
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		z, err = gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		in = z
	}
	r := NewReader(in, path)
	r.Warn = warn
	if warn == nil {
		r.Warn = func(err error) { fmt.Fprintln(os.Stderr, err) }
	}
	return &FileSource{Reader: r, f: f, z: z}, nil
}

// Next returns the file's next event; io.EOF at its end.
func (s *FileSource) Next(ctx context.Context) (*Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.Reader.Next()
}

// Close closes the file.
func (s *FileSource) Close() error {
	if s.z != nil {
		s.z.Close()
	}
	return s.f.Close()
}

// ReadFile reads every event of a file (see Reader); warn receives what was skipped (nil:
// standard error).
func ReadFile(path string, warn func(error)) ([]*Event, error) {
	s, err := OpenFile(path, warn)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	var out []*Event
	for {
		ev, err := s.Reader.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, ev)
	}
}

// IsAuditFile reports whether a file (gzip-compressed or not) holds JSON, i.e. audit events
// rather than a capture: its first non-blank byte is '{' or '['. `saker run -e FILE` can use
// it to pick the k8s_audit source for a file.
func IsAuditFile(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var in io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		z, err := gzip.NewReader(br)
		if err != nil {
			return false, fmt.Errorf("%s: %v", path, err)
		}
		defer z.Close()
		in = z
	}
	buf := make([]byte, 4096)
	n, err := io.ReadAtLeast(in, buf, 1)
	if n == 0 {
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			return false, nil
		}
		return false, err
	}
	t := bytes.TrimLeft(buf[:n], " \t\r\n")
	return len(t) > 0 && (t[0] == '{' || t[0] == '['), nil
}
