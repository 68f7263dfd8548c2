package output

import (
	"context"
	"io"
	"os"
	"sync"

	"github.com/saker-sec/saker/pkg/alert"
)

// WriterChannel writes one line per alert to an io.Writer (stdout_output).
type WriterChannel struct {
	name string
	w    io.Writer
	f    Format
	buf  []byte
}

// NewWriter returns a channel writing lines to w; name is its name in stats ("stdout").
func NewWriter(name string, w io.Writer, f Format) *WriterChannel {
	return &WriterChannel{name: name, w: w, f: f}
}

// Name implements Channel.
func (c *WriterChannel) Name() string { return c.name }

// Write implements Channel.
func (c *WriterChannel) Write(_ context.Context, a *alert.Alert) error {
	c.buf = append(append(c.buf[:0], c.f.Line(a)...), '\n')
	_, err := c.w.Write(c.buf)
	return err
}

// Close implements Channel (the writer is not closed).
func (c *WriterChannel) Close(context.Context) error { return nil }

// FileChannel appends one line per alert to a file (file_output). With keepAlive the file
// stays open and Reopen (SIGUSR1) closes and reopens it, for log rotation; without, it is
// opened and closed for every alert, as Falco does.
type FileChannel struct {
	path      string
	keepAlive bool
	f         Format
	mu        sync.Mutex
	file      *os.File
	buf       []byte
}

// NewFile returns a file channel. The file is created (mode 0600) if missing.
func NewFile(path string, keepAlive bool, f Format) (*FileChannel, error) {
	c := &FileChannel{path: path, keepAlive: keepAlive, f: f}
	// open once now so a bad path is reported at startup
	file, err := c.open()
	if err != nil {
		return nil, err
	}
	if keepAlive {
		c.file = file
	} else {
		file.Close()
	}
	return c, nil
}

func (c *FileChannel) open() (*os.File, error) {
	return os.OpenFile(c.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
}

// Name implements Channel.
func (c *FileChannel) Name() string { return "file" }

// Write implements Channel.
func (c *FileChannel) Write(_ context.Context, a *alert.Alert) error {
	c.buf = append(append(c.buf[:0], c.f.Line(a)...), '\n')
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.keepAlive {
		file, err := c.open()
		if err != nil {
			return err
		}
		_, err = file.Write(c.buf)
		if cerr := file.Close(); err == nil {
			err = cerr
		}
		return err
	}
	if c.file == nil {
		file, err := c.open()
		if err != nil {
			return err
		}
		c.file = file
	}
	_, err := c.file.Write(c.buf)
	return err
}

// Reopen closes the file and opens it again by name (after a rotation moved it away).
func (c *FileChannel) Reopen() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.file == nil {
		return nil
	}
	c.file.Close()
	file, err := c.open()
	if err != nil {
		c.file = nil // retried at the next write
		return err
	}
	c.file = file
	return nil
}

// Close implements Channel.
func (c *FileChannel) Close(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.file == nil {
		return nil
	}
	err := c.file.Close()
	c.file = nil
	return err
}
