package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio/chat"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// TestHeadlessReportsAnnouncements: the host's current announcements are
// in --headless's JSON, edits and deletions applied, so monitoring sees
// what every viewer's banner says.
func TestHeadlessReportsAnnouncements(t *testing.T) {
	b := testenv.StartBroadcaster(t, "320x240", 15, nil)
	const key = "0123456789abcdef0123456789abcdef"
	addr := chatServer(t, b, key)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	host, _, err := chat.Dial(ctx, addr, chat.Hello{Name: "boss", HostKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	for _, text := range []string{"first", "Stream ends at 18:00 — merci!", "gone soon"} {
		if _, err := host.Announce("post", 0, text); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := host.Announce("edit", 1, "first, edited"); err != nil {
		t.Fatal(err)
	}
	if _, err := host.Announce("delete", 3, ""); err != nil {
		t.Fatal(err)
	}

	_, p := headless(t, "--seconds", "2", "--name", "monitor", addr)
	var out struct {
		Shown         uint64         `json:"shown"`
		Announcements []announcement `json:"announcements"`
	}
	if err := json.Unmarshal([]byte(p.Stdout.String()), &out); err != nil {
		t.Fatalf("%v: %q", err, p.Stdout.String())
	}
	want := []announcement{{ID: 1, Text: "first, edited", From: "boss"}, {ID: 2, Text: "Stream ends at 18:00 — merci!", From: "boss"}}
	if len(out.Announcements) != len(want) {
		t.Fatalf("announcements %+v, want %+v", out.Announcements, want)
	}
	for i, a := range out.Announcements {
		if a.ID != want[i].ID || a.Text != want[i].Text || a.From != "boss" {
			t.Errorf("announcement %d: %+v, want %+v", i, a, want[i])
		}
	}
	if out.Shown == 0 {
		t.Error("no video while reporting announcements")
	}
}
