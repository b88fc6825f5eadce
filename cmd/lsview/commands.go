package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/lsbroadcast/lsbroadcast/netio/viewer"
)

// What a line typed into the window asks for. A line that starts with "/"
// is a command for lsview, never chat: a mistyped command must not leak
// to everyone. "//text" sends "/text".
type cmdKind int

const (
	cmdNone cmdKind = iota
	cmdChat
	cmdAnnounce // post, edit or delete: op says which
	cmdHelp
	cmdName
	cmdHost
	cmdSet      // key and text (the value as typed)
	cmdReset    // key; "" for all
	cmdSettings // open or close the settings panel
	cmdError    // err says what is wrong; nothing is sent
)

type command struct {
	kind cmdKind
	op   string // of cmdAnnounce: viewer.AnnouncePost, AnnounceEdit, AnnounceDelete
	id   uint64 // the announcement edited or deleted
	text string // chat or announcement text, the new name, the host key argument, a setting's value
	key  string // the setting of cmdSet and cmdReset
	err  string
}

// helpLines are the keys and commands the help overlay lists: a heading
// (no description) or a key or command with what it does.
var helpLines = [][2]string{
	{"Commands", ""},
	{"/announce TEXT", "announce (host)"},
	{"/edit N TEXT", "change #N (host)"},
	{"/delete N", "remove #N (host)"},
	{"/name NEW", "join again as NEW"},
	{"/host KEYFILE", "join again as host"},
	{"/host -", "join again as viewer"},
	{"//text", "send \"/text\""},
	{"Camera settings: F3, /settings", ""},
	{"/set KEY VALUE", "change one (host)"},
	{"/reset KEY", "back to default"},
	{"/reset", "all back to default"},
	{"Keys", ""},
	{"Enter", "send"},
	{"Arrows, Home, End", "move; Up: last line"},
	{"Backspace, Del", "erase"},
	{"Ctrl+V, middle click", "paste"},
	{"PgUp, PgDn, wheel", "scroll the chat"},
	{"F11", "full screen"},
	{"F2", "latency, losses"},
	{"F4", "picture size"},
	{"F1, ? on empty line", "this help"},
	{"Esc", "clear the line; again: quit"},
	{"Ctrl+Q", "quit"},
	{"Any other key closes this help.", ""},
}

// parseInput says what a typed line asks for.
func parseInput(line string) command {
	line = strings.TrimSpace(line)
	switch {
	case line == "":
		return command{kind: cmdNone}
	case strings.HasPrefix(line, "//"):
		return command{kind: cmdChat, text: line[1:]}
	case !strings.HasPrefix(line, "/"):
		return command{kind: cmdChat, text: line}
	}
	name, rest, _ := strings.Cut(line[1:], " ")
	rest = strings.TrimSpace(rest)
	switch name {
	case "help", "?":
		return command{kind: cmdHelp}
	case "announce":
		if rest == "" {
			return command{kind: cmdError, err: "usage: /announce TEXT"}
		}
		return command{kind: cmdAnnounce, op: viewer.AnnouncePost, text: rest}
	case "edit":
		n, text, _ := strings.Cut(rest, " ")
		id, err := announcementNumber(n)
		text = strings.TrimSpace(text)
		if err != nil || text == "" {
			return command{kind: cmdError, err: "usage: /edit N TEXT, N the #number beside the announcement"}
		}
		return command{kind: cmdAnnounce, op: viewer.AnnounceEdit, id: id, text: text}
	case "delete":
		id, err := announcementNumber(rest)
		if err != nil {
			return command{kind: cmdError, err: "usage: /delete N, N the #number beside the announcement"}
		}
		return command{kind: cmdAnnounce, op: viewer.AnnounceDelete, id: id}
	case "name":
		if rest == "" {
			return command{kind: cmdError, err: "usage: /name NEWNAME"}
		}
		return command{kind: cmdName, text: rest}
	case "settings":
		return command{kind: cmdSettings}
	case "set":
		key, value, _ := strings.Cut(rest, " ")
		if key == "" {
			return command{kind: cmdError, err: "usage: /set KEY VALUE (/settings shows the keys)"}
		}
		return command{kind: cmdSet, key: key, text: strings.TrimSpace(value)}
	case "reset":
		if strings.Contains(rest, " ") {
			return command{kind: cmdError, err: "usage: /reset KEY, or /reset alone for every setting"}
		}
		return command{kind: cmdReset, key: rest}
	case "host":
		if rest == "" {
			return command{kind: cmdError, err: "usage: /host KEYFILE (or the key itself; /host - to join as a viewer)"}
		}
		return command{kind: cmdHost, text: rest}
	}
	return command{kind: cmdError, err: fmt.Sprintf("unknown command /%s: /help lists them; //%s sends it as chat", name, name)}
}

// announcementNumber reads N of "/edit N": "3" or "#3", as the panel
// shows it.
func announcementNumber(s string) (uint64, error) {
	id, err := strconv.ParseUint(strings.TrimPrefix(s, "#"), 10, 64)
	if err == nil && id == 0 {
		err = errors.New("no announcement #0")
	}
	return id, err
}

// hostKeyArg is /host's argument as a key: the contents of the file it
// names, else the argument itself; "-" is no key.
func hostKeyArg(arg string) (string, error) {
	if arg == "-" {
		return arg, nil
	}
	if b, err := os.ReadFile(arg); err == nil {
		key := strings.TrimSpace(string(b))
		if key == "" {
			return "", fmt.Errorf("%s is empty", arg)
		}
		return key, nil
	}
	if strings.ContainsAny(arg, "/\\") {
		return "", fmt.Errorf("no host key file %s", arg)
	}
	return arg, nil
}
