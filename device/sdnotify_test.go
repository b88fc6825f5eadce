package device

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/journal"

	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// notifySocket listens where systemd would and returns the datagrams it
// receives, as systemd's notify socket does.
func notifySocket(t *testing.T) <-chan string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("NOTIFY_SOCKET", path)
	msgs := make(chan string, 256)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			select {
			case msgs <- string(buf[:n]):
			default:
			}
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return msgs
}

func next(t *testing.T, msgs <-chan string) string {
	t.Helper()
	select {
	case m := <-msgs:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no notification within 5 s")
	}
	return ""
}

func TestNotifierStates(t *testing.T) {
	msgs := notifySocket(t)
	n := NewNotifier(slog.New(slog.DiscardHandler))
	n.Ready()
	n.Status("2 viewers, 30.0 fps\nsecond line")
	n.Stopping()
	for _, want := range []string{"READY=1", "STATUS=2 viewers, 30.0 fps second line", "STOPPING=1"} {
		if got := next(t, msgs); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

func TestNotifierOutsideSystemdDoesNothing(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv("WATCHDOG_USEC", "")
	var logs bytes.Buffer
	n := NewNotifier(slog.New(slog.NewTextHandler(&logs, nil)))
	n.Ready()
	n.Status("x")
	done := make(chan struct{})
	go func() { n.RunWatchdog(context.Background(), func() error { return nil }); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunWatchdog without a watchdog did not return")
	}
	if logs.Len() != 0 {
		t.Errorf("logged outside systemd: %s", logs.String())
	}
}

// TestWatchdogPingsOnlyWhileHealthy runs a 200 ms watchdog: pings arrive
// while healthy, stop while unhealthy, and resume on recovery.
func TestWatchdogPingsOnlyWhileHealthy(t *testing.T) {
	msgs := notifySocket(t)
	t.Setenv("WATCHDOG_USEC", "200000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	var sick atomic.Bool
	var checks atomic.Int64
	healthy := func() error {
		checks.Add(1)
		if sick.Load() {
			return errors.New("no frame for 3s")
		}
		return nil
	}
	var logs testenv.SyncBuffer
	n := NewNotifier(slog.New(slog.NewTextHandler(&logs, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { n.RunWatchdog(ctx, healthy) })
	defer func() { cancel(); wg.Wait() }()

	for range 3 {
		if got := next(t, msgs); got != "WATCHDOG=1" {
			t.Fatalf("got %q, want WATCHDOG=1", got)
		}
	}
	sick.Store(true)
	// Let the pinger see the sickness, then drain what was sent before.
	for c := checks.Load(); checks.Load() < c+2; {
		time.Sleep(10 * time.Millisecond)
	}
	drain(msgs)
	for c := checks.Load(); checks.Load() < c+4; {
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case m := <-msgs:
		t.Fatalf("got %q while unhealthy", m)
	default:
	}
	if !strings.Contains(logs.String(), "no frame for 3s") {
		t.Errorf("the reason was not logged: %s", logs.String())
	}
	sick.Store(false)
	if got := next(t, msgs); got != "WATCHDOG=1" {
		t.Fatalf("after recovery got %q, want WATCHDOG=1", got)
	}
}

func TestWatchdogForAnotherProcess(t *testing.T) {
	notifySocket(t)
	t.Setenv("WATCHDOG_USEC", "200000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()+1))
	done := make(chan struct{})
	go func() {
		NewNotifier(slog.New(slog.DiscardHandler)).RunWatchdog(context.Background(), func() error { return nil })
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunWatchdog pinged for another process's watchdog")
	}
}

func drain(c <-chan string) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

type entry struct {
	msg  string
	pri  journal.Priority
	vars map[string]string
}

func TestJournalHandlerFields(t *testing.T) {
	var got []entry
	send := func(msg string, p journal.Priority, vars map[string]string) error {
		got = append(got, entry{msg, p, vars})
		return nil
	}
	var fb bytes.Buffer
	h := newJournalHandler(send, slog.NewTextHandler(&fb, nil), &slog.HandlerOptions{AddSource: true})
	log := slog.New(h).With("service", "rtsp").WithGroup("stream")
	log.Warn("source lost", "source", "v4l2:/dev/video0", "fps", 29.97, slog.Group("size", "w", 1280, "h", 720),
		"_secret", "x", "2nd", "y", "dash-key", "z")
	slog.New(h).Debug("hidden")
	slog.New(h).Error("bad")

	if len(got) != 2 {
		t.Fatalf("got %d entries, want 2 (debug is below the default level)", len(got))
	}
	e := got[0]
	if e.msg != "source lost" || e.pri != journal.PriWarning {
		t.Errorf("entry %q priority %d", e.msg, e.pri)
	}
	want := map[string]string{
		"SERVICE": "rtsp", "STREAM_SOURCE": "v4l2:/dev/video0", "STREAM_FPS": "29.97",
		"STREAM_SIZE_W": "1280", "STREAM_SIZE_H": "720", "STREAM_SECRET": "x", "STREAM_F_2ND": "y",
		"STREAM_DASH_KEY": "z",
	}
	for k, v := range want {
		if e.vars[k] != v {
			t.Errorf("field %s = %q, want %q (all: %v)", k, e.vars[k], v, e.vars)
		}
	}
	if !strings.HasSuffix(e.vars["CODE_FILE"], "sdnotify_test.go") || e.vars["CODE_LINE"] == "" {
		t.Errorf("source fields: %v", e.vars)
	}
	if got[1].pri != journal.PriErr {
		t.Errorf("error priority %d", got[1].pri)
	}
	if fb.Len() != 0 {
		t.Errorf("fallback used while the journal accepted: %s", fb.String())
	}
}

func TestJournalHandlerFallsBackWhenRefused(t *testing.T) {
	send := func(string, journal.Priority, map[string]string) error { return errors.New("no journald") }
	var fb bytes.Buffer
	h := newJournalHandler(send, slog.NewTextHandler(&fb, nil), nil)
	slog.New(h).With("device", "/dev/video0").Info("camera back")
	if s := fb.String(); !strings.Contains(s, "camera back") || !strings.Contains(s, "device=/dev/video0") {
		t.Errorf("fallback got %q", s)
	}
}

func TestNewLogHandlerWithoutJournal(t *testing.T) {
	t.Setenv("JOURNAL_STREAM", "")
	var b bytes.Buffer
	slog.New(NewLogHandler(&b, nil)).Info("hello", "k", "v")
	if !strings.Contains(b.String(), "msg=hello k=v") {
		t.Errorf("text handler expected, got %q", b.String())
	}
}
