package rtsp

import (
	"testing"
	"time"
)

func TestGhostWatch(t *testing.T) {
	gone := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return gone.Add(d) }
	var w ghostWatch
	// No RTCP since the connection closed: the short timeout.
	if w.look(gone, 5, at(time.Second), 3*time.Second) {
		t.Error("ghost after 1 s")
	}
	if !w.look(gone, 5, at(3*time.Second), 3*time.Second) {
		t.Error("no ghost after 3 s without RTCP")
	}
	// A reader that reports after its connection closed keeps playing
	// while it reports, and ends once it falls silent.
	w = ghostWatch{}
	w.look(gone, 5, at(500*time.Millisecond), 3*time.Second)
	if w.look(gone, 6, at(2*time.Second), 3*time.Second) || w.look(gone, 6, at(10*time.Second), 3*time.Second) {
		t.Error("reporting reader ended")
	}
	if !w.look(gone, 6, at(2*time.Second+rtcpSilenceAfterReport), 3*time.Second) {
		t.Error("reader silent since its last report not ended")
	}
	// A new disconnection starts a new watch.
	later := at(time.Minute)
	if w.look(later, 6, later.Add(time.Second), 3*time.Second) {
		t.Error("old watch carried over")
	}
}
