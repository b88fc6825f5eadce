//go:build linux || darwin

package cvsource

import (
	"bytes"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// stderrMu serialises captures: file descriptor 2 is process-wide.
var stderrMu sync.Mutex

// capturedLimit bounds what one capture keeps; the libraries' chatter
// about a failed open is a few hundred bytes.
const capturedLimit = 16 << 10

// quietly runs fn with the process's standard error (where OpenCV,
// GStreamer and FFmpeg print from C) sent to a buffer, and returns what
// they printed. Our own logging is paused for the few milliseconds an open
// takes, and no library noise reaches the user.
func quietly(fn func()) string {
	stderrMu.Lock()
	defer stderrMu.Unlock()
	r, w, err := os.Pipe()
	if err != nil {
		fn()
		return ""
	}
	saved, err := unix.Dup(2)
	if err != nil {
		r.Close()
		w.Close()
		fn()
		return ""
	}
	var buf bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(&buf, io.LimitReader(r, capturedLimit))
		io.Copy(io.Discard, r)
	}()
	_ = unix.Dup3(int(w.Fd()), 2, 0)
	defer func() {
		_ = unix.Dup3(saved, 2, 0)
		unix.Close(saved)
	}()
	fn()
	_ = unix.Dup3(saved, 2, 0)
	w.Close()
	<-done
	r.Close()
	return buf.String()
}

var (
	reported  = regexp.MustCompile(`reported: (.+)$`)
	avPrefix  = regexp.MustCompile(`^\[[^\]]+ @ 0x[0-9a-f]+\] `)
	cvPrefix  = regexp.MustCompile(`^\[ *(WARN|ERROR)[^\]]*\] global \S+ \(\d+\) \S+ `)
	genericCV = []string{"pipeline have not been created", "unable to start pipeline", "can't open camera by index", "assertion"}
)

// reason picks the line of library output that explains a failure best.
func reason(out string) string {
	var best string
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		if m := reported.FindStringSubmatch(line); m != nil {
			return strings.TrimSuffix(m[1], ".")
		}
		if line == "" || best != "" {
			continue
		}
		generic := false
		for _, g := range genericCV {
			generic = generic || strings.Contains(line, g)
		}
		if generic || strings.Contains(line, "WARNING **") || strings.Contains(line, "CRITICAL **") {
			continue
		}
		line = avPrefix.ReplaceAllString(line, "")
		best = strings.TrimPrefix(cvPrefix.ReplaceAllString(line, ""), "OpenCV | GStreamer warning: ")
	}
	return best
}
