package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/lsbroadcast/lsbroadcast/netio/viewer"
)

func TestParseInput(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want command
	}{
		{"", command{kind: cmdNone}},
		{"   ", command{kind: cmdNone}},
		{"hello", command{kind: cmdChat, text: "hello"}},
		{"//slash first", command{kind: cmdChat, text: "/slash first"}},
		{"//", command{kind: cmdChat, text: "/"}},
		{"/announce Break at 3", command{kind: cmdAnnounce, op: viewer.AnnouncePost, text: "Break at 3"}},
		{"/edit 3 Break at 4", command{kind: cmdAnnounce, op: viewer.AnnounceEdit, id: 3, text: "Break at 4"}},
		{"/edit #3 Break at 4", command{kind: cmdAnnounce, op: viewer.AnnounceEdit, id: 3, text: "Break at 4"}},
		{"/delete #12", command{kind: cmdAnnounce, op: viewer.AnnounceDelete, id: 12}},
		{"/help", command{kind: cmdHelp}},
		{"/?", command{kind: cmdHelp}},
		{"/name bob", command{kind: cmdName, text: "bob"}},
		{"/host /etc/key", command{kind: cmdHost, text: "/etc/key"}},
	} {
		if got := parseInput(tc.in); got != tc.want {
			t.Errorf("parseInput(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	// Mistakes are local errors, never chat.
	for _, in := range []string{"/announce", "/edit 3", "/edit x text", "/edit 0 text", "/delete", "/delete x",
		"/name", "/host", "/anounce typo", "/", "/Announce caps"} {
		if got := parseInput(in); got.kind != cmdError || got.err == "" {
			t.Errorf("parseInput(%q) = %+v, want a local error", in, got)
		}
	}
}

func TestHostKeyArg(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	os.WriteFile(path, []byte("0123456789abcdef\n"), 0o600)
	for _, tc := range []struct{ in, want string }{
		{path, "0123456789abcdef"},
		{"rawkey123", "rawkey123"},
		{"-", "-"},
	} {
		if got, err := hostKeyArg(tc.in); err != nil || got != tc.want {
			t.Errorf("hostKeyArg(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := hostKeyArg("/no/such/key"); err == nil {
		t.Error("a missing key file was taken as the key")
	}
}
