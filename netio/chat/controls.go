package chat

import (
	"cmp"
	"errors"
	"fmt"
)

// Control is one setting of the broadcaster's picture as the protocol
// carries it: a camera control (brightness, exposure, …) or the stream's
// size, frame rate and JPEG quality. See PROTOCOL.md, "Camera settings".
type Control struct {
	Key      string     `json:"key"`
	Name     string     `json:"name"`
	Kind     string     `json:"kind"` // int, bool, menu, intmenu, button
	Min      int64      `json:"min"`
	Max      int64      `json:"max"`
	Step     int64      `json:"step,omitempty"`
	Default  int64      `json:"default"`
	Value    int64      `json:"value"`
	Menu     []MenuItem `json:"menu,omitempty"`
	Inactive bool       `json:"inactive,omitempty"`
}

// MenuItem is one choice of a menu control.
type MenuItem struct {
	Value int64  `json:"value"`
	Label string `json:"label"`
}

// Camera is what the chat needs of the broadcaster's settings. Its methods
// are called from client goroutines, concurrently. An error that is a
// *Error reaches the client with its code; any other is internal.
type Camera interface {
	Controls() ([]Control, error)
	SetControl(key string, value int64) error
	// ResetControl returns one control, or every one when key is "", to
	// the driver's default.
	ResetControl(key string) error
}

// Control ops.
const (
	OpSet   = "set"
	OpReset = "reset"
)

// ControlsVersion is the first protocol version that hears of settings
// changes: older clients are never sent a message type they don't know.
const ControlsVersion = 2

// controls answers a client's list request.
func (c *client) controls(m Msg) *Error {
	if c.s.Camera == nil {
		return errorf(CodeUnsupported, "this source has no settings")
	}
	list, err := c.s.Camera.Controls()
	if err != nil {
		return cameraError(err)
	}
	c.send(Encode(Msg{Type: TypeControls, Ref: m.Ref, Controls: list}))
	return nil
}

// control sets or resets a setting for the host, then tells every client
// that understands it the new values.
func (c *client) control(m Msg) *Error {
	if c.role != RoleHost {
		return errorf(CodeForbidden, "only the host changes camera settings")
	}
	if c.s.Camera == nil {
		return errorf(CodeUnsupported, "this source has no settings")
	}
	var err error
	switch m.Op {
	case "", OpSet:
		if m.ControlKey == "" || m.Value == nil {
			return errorf(CodeBadRequest, "a set needs key and value")
		}
		err = c.s.Camera.SetControl(m.ControlKey, *m.Value)
	case OpReset:
		err = c.s.Camera.ResetControl(m.ControlKey)
	default:
		return errorf(CodeBadRequest, "control op %q: want set or reset", m.Op)
	}
	if err != nil {
		return cameraError(err)
	}
	c.send(Encode(Msg{Type: TypeAck, Ref: m.Ref}))
	args := []any{"by", c.name, "op", cmp.Or(m.Op, OpSet), "key", cmp.Or(m.ControlKey, "all")}
	if m.Value != nil {
		args = append(args, "value", *m.Value)
	}
	c.s.Logger.Info("camera setting changed", args...)
	list, err := c.s.Camera.Controls()
	if err != nil {
		c.s.Logger.Warn("camera settings not readable after a change", "error", err)
		return nil
	}
	line := Encode(Msg{Type: TypeControls, Event: "changed", From: c.name, ControlKey: m.ControlKey, Controls: list})
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	for o := range c.s.clients {
		if o.v >= ControlsVersion {
			o.send(line)
		}
	}
	return nil
}

func cameraError(err error) *Error {
	if e, ok := errors.AsType[*Error](err); ok {
		return e
	}
	return &Error{Code: CodeInternal, Message: fmt.Sprintf("camera: %v", err)}
}
