package subproc

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/lsbroadcast/lsbroadcast/capture"
)

// The control channel: the parent writes one JSON Request a line to the
// child's standard input; the child answers each with a Reply record in
// its standard output, between two frames: ReplyMagic, the JSON's length
// (uint32, big-endian), the JSON.

// Request asks the child for its controls ("list") or to set one ("set").
type Request struct {
	ID    uint64 `json:"id"`
	Op    string `json:"op"`
	Key   string `json:"key,omitempty"`
	Value int64  `json:"value,omitempty"`
}

// Reply answers the Request of the same ID.
type Reply struct {
	ID       uint64            `json:"id"`
	Controls []capture.Control `json:"controls,omitempty"`
	Control  *capture.Control  `json:"control,omitempty"`
	Error    string            `json:"error,omitempty"`
	// Code says when the request was at fault: "no_control" or
	// "bad_value"; empty for other failures.
	Code string `json:"code,omitempty"`
}

// ReplyMagic starts a Reply record, as Magic starts a frame.
var ReplyMagic = [4]byte{'L', 'S', 'B', 'C'}

// Bounds of the channel: a request line and a reply's JSON larger than
// these are a broken peer (a list of a few dozen controls is a few KiB).
const (
	MaxRequest = 4 << 10
	MaxReply   = 1 << 20
)

// requestTimeout bounds the wait for a reply: the child answers between
// two frames, and a set waits for at most one frame read.
const requestTimeout = 5 * time.Second

// AppendReply appends r's record to b.
func AppendReply(b []byte, r Reply) []byte {
	js, err := json.Marshal(r)
	if err != nil {
		js, _ = json.Marshal(Reply{ID: r.ID, Error: "encode reply: " + err.Error()})
	}
	b = append(b, ReplyMagic[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(js)))
	return append(b, js...)
}

// readReply reads a Reply record whose magic was peeked, not consumed.
func readReply(r io.Reader) (Reply, error) {
	var h [8]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return Reply{}, err
	}
	n := binary.BigEndian.Uint32(h[4:])
	if n == 0 || n > MaxReply {
		return Reply{}, fmt.Errorf("reply header: length %d out of range", n)
	}
	js := make([]byte, n)
	if _, err := io.ReadFull(r, js); err != nil {
		return Reply{}, fmt.Errorf("reply body: %w", err)
	}
	var rep Reply
	if err := json.Unmarshal(js, &rep); err != nil {
		return Reply{}, fmt.Errorf("reply body: %w", err)
	}
	return rep, nil
}

// Serve answers the requests read from in (the child's standard input)
// with c until in ends, handing each Reply to reply. A malformed line is
// answered with an error, not fatal.
func Serve(in io.Reader, c capture.Controller, reply func(Reply) error) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 512), MaxRequest)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if err := reply(answer(line, c)); err != nil {
			return err
		}
	}
	return sc.Err()
}

func answer(line []byte, c capture.Controller) Reply {
	var req Request
	if err := json.Unmarshal(line, &req); err != nil {
		return Reply{Error: "request: " + err.Error()}
	}
	rep := Reply{ID: req.ID}
	var err error
	switch req.Op {
	case "list":
		rep.Controls, err = c.Controls()
	case "set":
		var got capture.Control
		if got, err = c.SetControl(req.Key, req.Value); err == nil {
			rep.Control = &got
		}
	default:
		err = fmt.Errorf("unknown request %q (want list or set)", req.Op)
	}
	if err != nil {
		rep.Error = err.Error()
		switch {
		case errors.Is(err, capture.ErrNoControl):
			rep.Code = "no_control"
		case errors.Is(err, capture.ErrBadValue):
			rep.Code = "bad_value"
		}
	}
	return rep
}

// childError is a failure the child reported: its message, and the
// capture error it stands for, if the request was at fault.
type childError struct {
	msg string
	is  error
}

func (e *childError) Error() string { return e.msg }
func (e *childError) Unwrap() error { return e.is }

var _ capture.Controller = (*Source)(nil)

// Controls implements capture.Controller by asking the child.
func (s *Source) Controls() ([]capture.Control, error) {
	rep, err := s.request(Request{Op: "list"})
	return rep.Controls, err
}

// SetControl implements capture.Controller by asking the child.
func (s *Source) SetControl(key string, value int64) (capture.Control, error) {
	rep, err := s.request(Request{Op: "set", Key: key, Value: value})
	if err != nil {
		return capture.Control{}, err
	}
	if rep.Control == nil {
		return capture.Control{}, fmt.Errorf("%s: set %s: the helper answered without the control", s.hello.Name, key)
	}
	return *rep.Control, nil
}

// request sends r to the child and waits for its reply, one request at a
// time.
func (s *Source) request(r Request) (Reply, error) {
	s.reqMu.Lock()
	defer s.reqMu.Unlock()
	s.lastID++
	r.ID = s.lastID
	line, _ := json.Marshal(r)
	if _, err := s.stdin.Write(append(line, '\n')); err != nil {
		return Reply{}, fmt.Errorf("%s: %s request: helper gone: %w", s.hello.Name, r.Op, err)
	}
	timeout := time.NewTimer(requestTimeout)
	defer timeout.Stop()
	for {
		select {
		case rep := <-s.replies:
			if rep.ID != r.ID {
				continue // the late answer to a request that timed out
			}
			if rep.Error == "" {
				return rep, nil
			}
			e := &childError{msg: s.hello.Name + ": " + rep.Error}
			switch rep.Code {
			case "no_control":
				e.is = capture.ErrNoControl
			case "bad_value":
				e.is = capture.ErrBadValue
			}
			return Reply{}, e
		case <-s.readDone:
			return Reply{}, fmt.Errorf("%s: %s request: helper stopped", s.hello.Name, r.Op)
		case <-timeout.C:
			return Reply{}, fmt.Errorf("%s: %s request: no answer from the helper in %v", s.hello.Name, r.Op, requestTimeout)
		}
	}
}
