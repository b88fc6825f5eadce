package main

import (
	"context"
	"strings"
	"testing"

	"github.com/lsbroadcast/lsbroadcast/netio/chat"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// TestHeadlessReceivesChat: one chat address is enough for headless too;
// it plays the video the welcome names and counts the chat.
func TestHeadlessReceivesChat(t *testing.T) {
	b := testenv.StartBroadcaster(t, "320x240", 30, nil)
	addr := chatServer(t, b, "")
	c, _, err := chat.Dial(context.Background(), addr, chat.Hello{Name: "earlier"})
	if err != nil {
		t.Fatal(err)
	}
	c.Chat("said before you came")
	for m := range c.Events() {
		if m.Type == chat.TypeAck {
			break
		}
	}
	c.Close()
	st, _ := headless(t, "--seconds", "2", addr)
	if st.ChatMessages != 1 || st.Shown == 0 || !strings.Contains(st.Chat, "as ") {
		t.Fatalf("stats %+v: want the one message from history, video, and a joined chat", st)
	}
}
