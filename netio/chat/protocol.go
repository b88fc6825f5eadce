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
	"unicode"
	"unicode/utf8"

	"github.com/lsbroadcast/lsbroadcast/netio"
)

// Version is the protocol version this package speaks.
const Version = 1

// Limits of the protocol.
const (
	MaxLine = 8 << 10 // bytes in one line from a client, newline included
	// MaxServerLine bounds a line from the server: a welcome or history
	// page carries many messages.
	MaxServerLine = 1 << 20
	MaxText       = 2 << 10 // bytes of chat or announcement text
	MaxName       = 32      // characters of a name
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
// MaxText, with no control characters (so no terminal escape sequences),
// and no bidirectional overrides that would make it read as something else.
func CheckText(s string) *Error {
	switch {
	case s == "" || strings.TrimSpace(s) == "":
		return errorf(CodeBadText, "empty text")
	case len(s) > MaxText:
		return errorf(CodeTooLong, "text of %d bytes, limit %d", len(s), MaxText)
	case !utf8.ValidString(s):
		return errorf(CodeBadUTF8, "text is not valid UTF-8")
	}
	for _, r := range s {
		if badRune(r) {
			return errorf(CodeBadText, "text contains control character %U", r)
		}
	}
	return nil
}

func badRune(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true // C0 and C1 controls, ESC among them
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f:
		return true // bidirectional overrides and marks
	case r == utf8.RuneError:
		return true
	}
	return false
}

// CleanName trims a requested name and checks it: 1 to 32 printable
// characters.
func CleanName(s string) (string, *Error) {
	s = strings.TrimSpace(s)
	n := utf8.RuneCountInString(s)
	if n == 0 || n > MaxName {
		return "", errorf(CodeBadName, "a name has 1 to %d characters, not %d", MaxName, n)
	}
	if !utf8.ValidString(s) {
		return "", errorf(CodeBadName, "name is not valid UTF-8")
	}
	for _, r := range s {
		if badRune(r) || !unicode.IsPrint(r) {
			return "", errorf(CodeBadName, "name contains unprintable character %U", r)
		}
	}
	return s, nil
}
