// Package subproc runs a capture source in a child process and reads its
// frames from a pipe. lsbroadcast uses it for OpenCV: the daemon stays free
// of OpenCV's 260 shared libraries (and of their crashes) unless a camera
// needs them, and then they live and die in the child.
//
// The child writes one JSON line, the Hello, then frames, each a 32-byte
// header (Header) followed by the JPEG bytes. On failure it writes one line
// to standard error and exits with status 2. Between frames it may write
// Reply records, answers to the Requests the parent writes to its
// standard input (controls.go).
package subproc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lsbroadcast/lsbroadcast/capture"
)

// Hello is the child's first line: what it opened.
type Hello struct {
	Name   string `json:"name"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
}

// Magic starts every frame header.
var Magic = [4]byte{'L', 'S', 'B', 'F'}

// MaxFrame bounds a frame's JPEG: an uncompressed 2040×2040 picture is
// smaller, so a larger length means a broken stream.
const MaxFrame = 16 << 20

// HeaderSize is the size of a frame header.
const HeaderSize = 32

// Header precedes each frame's JPEG bytes: magic, length, sequence number,
// capture time (Unix nanoseconds), width and height, all big-endian.
func Header(f capture.Frame) [HeaderSize]byte {
	var h [HeaderSize]byte
	copy(h[:4], Magic[:])
	binary.BigEndian.PutUint32(h[4:], uint32(len(f.JPEG)))
	binary.BigEndian.PutUint64(h[8:], f.Seq)
	binary.BigEndian.PutUint64(h[16:], uint64(f.Captured.UnixNano()))
	binary.BigEndian.PutUint32(h[24:], uint32(f.Width))
	binary.BigEndian.PutUint32(h[28:], uint32(f.Height))
	return h
}

// ReadFrame reads one frame written after a Header.
func ReadFrame(r io.Reader) (capture.Frame, error) {
	var h [HeaderSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return capture.Frame{}, err
	}
	if !bytes.Equal(h[:4], Magic[:]) {
		return capture.Frame{}, fmt.Errorf("frame header: bad magic %q", h[:4])
	}
	n := binary.BigEndian.Uint32(h[4:])
	if n == 0 || n > MaxFrame {
		return capture.Frame{}, fmt.Errorf("frame header: length %d out of range", n)
	}
	f := capture.Frame{
		Seq:      binary.BigEndian.Uint64(h[8:]),
		Captured: time.Unix(0, int64(binary.BigEndian.Uint64(h[16:]))),
		Width:    int(binary.BigEndian.Uint32(h[24:])),
		Height:   int(binary.BigEndian.Uint32(h[28:])),
	}
	if f.Width <= 0 || f.Width > capture.MaxSide || f.Height <= 0 || f.Height > capture.MaxSide {
		return capture.Frame{}, fmt.Errorf("frame header: size %dx%d out of range", f.Width, f.Height)
	}
	// A header that claims more than follows costs what follows, not
	// MaxFrame: one allocation for a usual frame, growth past 1 MiB.
	body := bytes.NewBuffer(make([]byte, 0, min(int(n), 1<<20)+bytes.MinRead)) // MinRead: room to see EOF
	_, err := body.ReadFrom(io.LimitReader(r, int64(n)))
	if err == nil && body.Len() < int(n) {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return capture.Frame{}, fmt.Errorf("frame body: %w", err)
	}
	f.JPEG = body.Bytes()
	return f, nil
}

// Source is a started child process. One goroutine reads its output from
// Start to Close, passing frames to Run and replies to the control
// requests.
type Source struct {
	hello  Hello
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *bufio.Reader
	stderr *tailBuffer
	done   chan struct{}
	err    error // of cmd.Wait, valid once done is closed
	once   sync.Once

	frames   chan capture.Frame // the newest frames not yet taken by Run
	replies  chan Reply
	readDone chan struct{} // closed when the reader stopped; nil before it started
	readErr  error         // why it stopped, valid once readDone is closed

	reqMu  sync.Mutex // one control request at a time
	lastID uint64
}

// queuedFrames bounds the frames kept while Run is not taking them (before
// it starts, or while emit is slow): the oldest go first.
const queuedFrames = 8

// openTimeout bounds how long a child may take to open its camera.
const openTimeout = 20 * time.Second

// Start runs argv and waits for its Hello. When the child fails instead,
// the error carries the line it wrote to standard error.
func Start(argv []string) (*Source, error) {
	s := &Source{cmd: exec.Command(argv[0], argv[1:]...), stderr: &tailBuffer{}, done: make(chan struct{})}
	s.cmd.Stderr = s.stderr
	s.cmd.SysProcAttr = dieWithParent()
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	s.out = bufio.NewReaderSize(stdout, 256<<10)
	helloc := make(chan error, 1)
	go func() {
		line, err := s.out.ReadSlice('\n')
		if err == nil {
			err = json.Unmarshal(line, &s.hello)
		}
		helloc <- err
	}()
	select {
	case err = <-helloc:
	case <-time.After(openTimeout):
		err = fmt.Errorf("no answer in %v", openTimeout)
	}
	if err != nil {
		s.Close()
		if msg := s.stderr.lastLine(); msg != "" {
			return nil, errors.New(msg)
		}
		return nil, fmt.Errorf("%s: %w", argv[0], err)
	}
	s.frames, s.replies, s.readDone = make(chan capture.Frame, queuedFrames), make(chan Reply, 1), make(chan struct{})
	go s.read()
	return s, nil
}

// read takes the child's output apart into frames and replies until it
// ends or breaks.
func (s *Source) read() {
	defer close(s.readDone)
	for {
		magic, err := s.out.Peek(len(ReplyMagic))
		if err != nil {
			s.readErr = err
			return
		}
		if bytes.Equal(magic, ReplyMagic[:]) {
			rep, err := readReply(s.out)
			if err != nil {
				s.readErr = err
				return
			}
			putNewest(s.replies, rep)
			continue
		}
		f, err := ReadFrame(s.out)
		if err != nil {
			s.readErr = err
			return
		}
		putNewest(s.frames, f)
	}
}

// putNewest queues v, dropping the oldest queued value when ch is full.
// The caller is ch's only sender.
func putNewest[T any](ch chan T, v T) {
	select {
	case ch <- v:
		return
	default:
	}
	select {
	case <-ch:
	default:
	}
	ch <- v
}

// Name implements capture.Source.
func (s *Source) Name() string { return s.hello.Name }

var _ capture.Source = (*Source)(nil)

// Size is the size of the child's frames.
func (s *Source) Size() capture.Size { return capture.Size{W: s.hello.Width, H: s.hello.Height} }

// Run implements capture.Source: frames until ctx ends or the child stops.
func (s *Source) Run(ctx context.Context, emit capture.Emit) error {
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case f := <-s.frames:
			emit(f)
			continue
		case <-s.readDone:
		}
		// The reader stopped: the frames it queued before come first.
		for len(s.frames) > 0 {
			emit(<-s.frames)
		}
		if ctx.Err() != nil {
			return nil
		}
		s.Close()
		if msg := s.stderr.lastLine(); msg != "" {
			return errors.New(msg)
		}
		return fmt.Errorf("%s: %w", s.hello.Name, s.readErr)
	}
}

// Close implements capture.Source: it stops the child and waits for it.
// How the child ended is not an error of Close: Run reports failures.
func (s *Source) Close() error {
	s.once.Do(func() {
		// Its standard input closing ends the child's control loop.
		s.stdin.Close()
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			// No SIGTERM where there are no signals (Windows).
			s.cmd.Process.Kill()
		}
		select {
		case <-s.done:
		case <-time.After(time.Second):
			s.cmd.Process.Kill()
			<-s.done
		}
		// The output pipe closed with the child: the reader ends.
		if s.readDone != nil {
			<-s.readDone
		}
	})
	return nil
}

// tailBuffer keeps the last few KiB a child wrote to standard error: its
// last line says why it stopped.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

const tailKeep = 4 << 10

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailKeep {
		t.buf = t.buf[len(t.buf)-tailKeep:]
	}
	return len(p), nil
}

func (t *tailBuffer) lastLine() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(string(t.buf)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// Executable finds a helper program beside the running executable, else
// on PATH.
func Executable(name string) (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not installed beside lsbroadcast nor on PATH", name)
	}
	return p, nil
}
