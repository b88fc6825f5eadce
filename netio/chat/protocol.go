// Package chat is the broadcaster's chat service: viewers talk while they
// watch, the host pins announcements, everyone sees who is here and what was
// said before they came. One TCP connection per client carries
// newline-delimited JSON; PROTOCOL.md beside this file is the reference.
// The server acknowledges a message only once it is on disk.
package chat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/lsbroadcast/lsbroadcast/netio"
	"github.com/lsbroadcast/lsbroadcast/netio/textsafe"
)

// Version is the protocol version this package speaks. A server also
// accepts clients of MinVersion and up: version 2 added camera settings
// (controls), which older clients never ask for and are never sent.
const (
	Version    = 2
	MinVersion = 1
)

// Limits of the protocol.
const (
	MaxLine = 8 << 10 // bytes in one line from a client, newline included
	// MaxServerLine bounds a line from the server: a welcome or history
	// page carries many messages.
	MaxServerLine = 1 << 20
	MaxText       = 2 << 10          // bytes of chat or announcement text
	MaxName       = textsafe.MaxName // characters of a name
)

// Message types.
const (
	TypeHello        = "hello"
	TypeWelcome      = "welcome"
	TypeChat         = "chat"
	TypeAnnounce     = "announce"     // client asks to post, edit or delete
	TypeAnnouncement = "announcement" // server tells everyone
	TypeAck          = "ack"
	TypeHistory      = "history"
	TypeWho          = "who"
	TypePresence     = "presence"
	TypeError        = "error"
	TypePing         = "ping"
	TypePong         = "pong"
	TypeBye          = "bye"
	TypeControls     = "controls" // list of settings: asked for, answered, or changed
	TypeControl      = "control"  // client asks to set or reset one setting
)

// Roles.
const (
	RoleViewer = "viewer"
	RoleHost   = "host"
)

// Error codes.
const (
	CodeBadJSON     = "bad_json"
	CodeUnknownType = "unknown_type"
	CodeTooLong     = "too_long"
	CodeBadUTF8     = "bad_utf8"
	CodeBadText     = "bad_text"
	CodeBadName     = "bad_name"
	CodeNameTaken   = "name_taken"
	CodeForbidden   = "forbidden"
	CodeVersion     = "version"
	CodeRateLimited = "rate_limited"
	CodeServerFull  = "server_full"
	CodeSlow        = "slow_consumer"
	CodeNotFound    = "not_found"
	CodeBadRequest  = "bad_request"
	CodeInternal    = "internal"
	CodeBadValue    = "bad_value"   // a setting's value out of its range or menu
	CodeUnsupported = "unsupported" // the source offers no settings
	// CodeNotExported: an announcement change is stored and shown to
	// everyone, but the broadcaster's announcements file was not written.
	CodeNotExported = "not_exported"
)

// Msg is every message of the protocol; Type says which fields matter.
type Msg struct {
	Type string `json:"type"`
	V    int    `json:"v,omitempty"`
	Ref  string `json:"ref,omitempty"` // the client's tag, echoed in ack and error

	// hello, welcome, chat, announcement, presence
	Name  string `json:"name,omitempty"`
	Role  string `json:"role,omitempty"`
	Key   string `json:"key,omitempty"`
	Since uint64 `json:"since,omitempty"`

	// chat, announce, announcement, ack
	ID   uint64 `json:"id,omitempty"`
	Op   string `json:"op,omitempty"`
	From string `json:"from,omitempty"`
	Text string `json:"text,omitempty"`
	TS   string `json:"ts,omitempty"`
	// announcement edits and deletes: the announcement changed
	Target uint64 `json:"target,omitempty"`
	Edited string `json:"edited,omitempty"`

	// history request and answer
	Before   uint64 `json:"before,omitempty"`
	Limit    int    `json:"limit,omitempty"`
	Messages []Msg  `json:"messages,omitempty"`
	More     bool   `json:"more,omitempty"`

	// welcome, presence, who
	You           string        `json:"you,omitempty"`
	Stream        *netio.Stream `json:"stream,omitempty"` // how to play the video
	Announcements []Msg         `json:"announcements,omitempty"`
	Present       []string      `json:"present,omitempty"`
	Event         string        `json:"event,omitempty"`
	Count         int           `json:"count,omitempty"`

	// control, controls
	ControlKey string    `json:"control,omitempty"` // which setting
	Value      *int64    `json:"value,omitempty"`   // a pointer: 0 is a value
	Controls   []Control `json:"controls,omitempty"`

	// error, bye
	Code       string `json:"code,omitempty"`
	Message    string `json:"message,omitempty"`
	Suggestion string `json:"suggestion,omitempty"`
	// Scope says which limit a server_full refusal hit: ScopeClients,
	// ScopeAddress or ScopePending.
	Scope  string `json:"scope,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Error is a protocol error: what went wrong, in a code programs can act
// on and a message people can read.
type Error struct {
	Code       string
	Message    string
	Suggestion string
	Scope      string // of a server_full refusal
}

func (e *Error) Error() string {
	if e.Suggestion != "" {
		return fmt.Sprintf("%s: %s (try %q)", e.Code, e.Message, e.Suggestion)
	}
	return e.Code + ": " + e.Message
}

func errorf(code, format string, a ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, a...)}
}

// Decode parses one line (without its newline) from a client or a server.
// It checks what every message must satisfy; the server checks the rest.
func Decode(line []byte) (Msg, *Error) {
	var m Msg
	if len(line) >= MaxServerLine {
		return m, errorf(CodeTooLong, "line of %d bytes, limit %d", len(line), MaxServerLine-1)
	}
	// encoding/json would quietly turn invalid UTF-8 into U+FFFD.
	if !utf8.Valid(line) {
		return m, errorf(CodeBadUTF8, "message is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	if err := dec.Decode(&m); err != nil {
		return Msg{}, errorf(CodeBadJSON, "not a JSON object: %v", err)
	}
	if dec.More() {
		return Msg{}, errorf(CodeBadJSON, "more than one JSON value on a line")
	}
	if m.Type == "" {
		return Msg{}, errorf(CodeBadJSON, "message has no type")
	}
	return m, nil
}

// Encode renders m as one line, newline included. '<', '>' and '&' go as
// they are: escaped for HTML they take six bytes each, and 2 KiB of legal
// text would no longer fit in a client's line.
func Encode(m Msg) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		// Every field of Msg marshals; this is a programming error.
		panic(fmt.Sprintf("chat: encode %s: %v", m.Type, err))
	}
	return b.Bytes() // Encoder ends it with the newline
}

// CheckText accepts text people may send to others: valid UTF-8 within
// MaxText in which every character shows as itself (textsafe.CheckText): no
// control characters (so no terminal escape sequences), no bidirectional
// controls, no line separators and no zero-width characters, so what one
// user sends can't rewrite or disguise another's screen. Emoji sequences,
// CJK, Arabic and Hebrew pass.
func CheckText(s string) *Error {
	switch {
	case s == "" || strings.TrimSpace(s) == "":
		return errorf(CodeBadText, "empty text")
	case len(s) > MaxText:
		return errorf(CodeTooLong, "text of %d bytes, limit %d", len(s), MaxText)
	case !utf8.ValidString(s):
		return errorf(CodeBadUTF8, "text is not valid UTF-8")
	}
	if err := textsafe.CheckText(s); err != nil {
		return errorf(CodeBadText, "%v", err)
	}
	return nil
}

// CleanName trims a requested name and checks it (textsafe.CheckName): 1 to
// MaxName printable characters that are what they look like, with no
// invisible, filler, control or bidirectional characters. Uniqueness is
// the server's, by NameKey.
func CleanName(s string) (string, *Error) {
	s = strings.TrimSpace(s)
	if err := textsafe.CheckName(s); err != nil {
		return "", errorf(CodeBadName, "%v", err)
	}
	return s, nil
}

// NameKey is what makes two names one: names that look alike on a screen
// (case, fullwidth forms, look-alike letters of other scripts) share a key.
func NameKey(name string) string {
	return textsafe.Skeleton(name)
}
