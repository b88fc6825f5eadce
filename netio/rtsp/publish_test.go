package rtsp

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// TestRelayOfferKeepsTheNewestOnly: Offer never waits; a picture not yet
// taken is replaced by the next and counted as dropped.
func TestRelayOfferKeepsTheNewestOnly(t *testing.T) {
	var p Publisher
	now := time.Now()
	for i := range 5 {
		p.Offer([]byte{byte(i)}, uint32(i), now)
	}
	o := p.take()
	if o == nil || o.jpeg[0] != 4 || o.rtpTime != 4 {
		t.Fatalf("took %+v, want the last picture", o)
	}
	if p.take() != nil {
		t.Error("a picture taken twice")
	}
	if st := p.Status(); st.Dropped != 4 {
		t.Errorf("dropped %d, want 4", st.Dropped)
	}
}

func TestRelayRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"rtsp://u:secret@h:8554/cam": "rtsp://u:xxxxx@h:8554/cam",
		"rtsp://h:8554/cam":          "rtsp://h:8554/cam",
		"rtsp://u:sec%zz@h/cam":      "rtsp://(unparsable)",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
	if got, err := WithoutUserInfo("rtsp://u:secret@h:8554/cam"); err != nil || got != "rtsp://h:8554/cam" {
		t.Errorf("WithoutUserInfo: %q, %v", got, err)
	}
}

// TestRelayUnreachableIsAStateNotAnError: a relay that refuses
// connections leaves Run retrying (state error, the reason kept) until its
// context ends, and then Run returns nil.
func TestRelayUnreachableIsAStateNotAnError(t *testing.T) {
	p := &Publisher{URL: "rtsp://127.0.0.1:1/cam"}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if st := p.Status(); st.State != PublishError || !strings.Contains(st.LastError, "refused") {
		t.Errorf("status %+v, want error naming the refusal", st)
	}
	if err := (&Publisher{URL: "http://x/cam"}).Run(context.Background()); err == nil {
		t.Error("Run with an http URL: no error")
	}
}

// TestRelaySilentRelayDoesNotHoldTheStop: a relay that accepts the
// connection and never answers does not keep Run past its context.
func TestRelaySilentRelayDoesNotHoldTheStop(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	p := &Publisher{URL: "rtsp://" + l.Addr().String() + "/cam"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	time.Sleep(300 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Run still waits for the silent relay 2 s after its context ended")
	}
}

func TestRelayURLErrorsHideThePassword(t *testing.T) {
	err := CheckRelayURL("rtsp://u:secret@h:port/cam")
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("CheckRelayURL: %v", err)
	}
}
