package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/capture/pattern"
	"github.com/lsbroadcast/lsbroadcast/netio"
	"github.com/lsbroadcast/lsbroadcast/netio/viewer"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

func TestQualityNoteAndRungLabel(t *testing.T) {
	ladder := []viewer.Rung{{Name: netio.Full, Width: 1280, Height: 720}, {Name: netio.Half, Width: 640, Height: 360}, {Name: netio.Quarter}}
	for _, tc := range []struct {
		q     viewer.Quality
		rungs []viewer.Rung
		want  string
	}{
		{viewer.QualityAuto, ladder, "auto, as large as the connection carries"},
		{viewer.QualityAuto, ladder[:1], "offers the full size only"},
		{netio.Half, ladder, "half (640×360), held"},
		{netio.Quarter, ladder, "quarter, held"},
		{netio.Quarter, ladder[:1], "quarter is not offered by this broadcaster; showing full"},
	} {
		if got := qualityNote(tc.q, tc.rungs); !strings.Contains(got, tc.want) {
			t.Errorf("qualityNote(%s, %d rungs) = %q, want %q in it", tc.q, len(tc.rungs), got, tc.want)
		}
	}
	for _, tc := range []struct {
		s    stats
		want string
	}{
		{stats{Rung: "full", Quality: "auto"}, ""},
		{stats{Rung: "half", Quality: "auto"}, "half "},
		{stats{Rung: "full", Quality: "full"}, "full (held) "},
		{stats{Rung: "full", Quality: "quarter", QualityNote: "this broadcaster offers no quarter quality"}, "full (quarter unavailable) "},
	} {
		if got := rungLabel(tc.s); got != tc.want {
			t.Errorf("rungLabel(%+v) = %q, want %q", tc.s, got, tc.want)
		}
	}
}

// TestWindowQuality: F4 turns the picture size auto → full → half →
// quarter → auto; the window plays each rung the broadcaster offers (its
// chat's welcome names them), still showing the whole picture, the
// status line names rung and size, F1's help lists F4, and --stats
// reports the time at each rung.
func TestWindowQuality(t *testing.T) {
	x := startXvfb(t)
	b := testenv.StartBroadcaster(t, "1280x720", 30, nil)
	bin, _ := binaries(t)
	vp := testenv.Start(t, x.command(bin, "--window", "1280x720", "--name", "sizes", "--stats", "--log-level", "info", b.ChatAddr()))
	id := x.window(t, "lsview", 20*time.Second)
	time.Sleep(1500 * time.Millisecond)
	for i, q := range []string{"full", "half", "quarter", "auto"} {
		x.key(id, "F4")
		// The switch takes a frame or two; the status line follows
		// within statusEvery.
		time.Sleep(1500 * time.Millisecond)
		shot := x.shot(t, id, fmt.Sprintf("quality-%d-%s", i+1, q))
		if n := barsSeen(shot, videoArea(shot.Bounds(), 1280, 720, 1280, 720)); n != len(pattern.Bars) {
			t.Errorf("%s: saw %d of the %d bar colours", q, n, len(pattern.Bars))
		}
	}
	x.key(id, "F1")
	time.Sleep(500 * time.Millisecond)
	x.shot(t, id, "quality-5-help")
	x.key(id, "Escape", "Escape")
	if err := vp.Wait(t, 10*time.Second); err != nil {
		t.Fatalf("lsview: %v\n%s", err, vp.Stderr.String())
	}
	var st stats
	if err := json.Unmarshal([]byte(vp.Stdout.String()), &st); err != nil {
		t.Fatalf("--stats: %v: %q", err, vp.Stdout.String())
	}
	t.Logf("rung %s, quality %s, switches %d, seconds %v", st.Rung, st.Quality, st.Switches, st.RungSeconds)
	if st.Quality != "auto" || st.Switches < 2 || st.RungSeconds[netio.Half] < 1 || st.RungSeconds[netio.Quarter] < 1 {
		t.Fatalf("after F4 four times: %+v", st)
	}
	for _, want := range []string{"rung=half size=640x360", "rung=quarter size=320x184"} {
		if !strings.Contains(vp.Stderr.String(), want) {
			t.Errorf("no %q in the log", want)
		}
	}
}
