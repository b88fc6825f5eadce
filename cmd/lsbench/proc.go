package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// cpuSeconds is the user+system CPU time of pid and of its living
// descendants (lsbroadcast's OpenCV helper, GStreamer's threads are in
// the process already).
func cpuSeconds(pid int) float64 {
	total := 0.0
	for _, p := range tree(pid) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		// Fields after the command, which may hold spaces, in brackets.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		total += (ut + st) / 100 // USER_HZ is 100 on Linux
	}
	return total
}

// rssMB is the resident memory of pid and its descendants, in MiB.
func rssMB(pid int) float64 {
	total := 0.0
	for _, p := range tree(pid) {
		total += statusMB(p, "VmRSS")
	}
	return total
}

// statusMB reads a memory field such as VmRSS of /proc/PID/status, in MiB;
// 0 when the process is gone.
func statusMB(pid int, field string) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			v, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return v / 1024
		}
	}
	return 0
}

// tree lists pid and its descendants, through /proc/PID/task/*/children.
func tree(pid int) []int {
	out := []int{pid}
	for i := 0; i < len(out) && i < 64; i++ {
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", out[i]))
		for _, t := range tasks {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", out[i], t.Name()))
			for _, f := range strings.Fields(string(b)) {
				if c, err := strconv.Atoi(f); err == nil {
					out = append(out, c)
				}
			}
		}
	}
	return out
}

// freePorts returns the first of n consecutive free UDP ports on
// loopback, even and also free for TCP: the kernel picks a base, and we
// check the rest.
func freePorts(n int) (int, error) {
	for range 50 {
		l, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		// Even, because RTP wants its port even and RTCP on the next.
		base := l.LocalAddr().(*net.UDPAddr).Port &^ 1
		l.Close()
		if base+n > 65000 {
			continue
		}
		ok := true
		for p := base; p < base+n && ok; p++ {
			c, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				ok = false
				break
			}
			c.Close()
		}
		if t, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base)); err == nil {
			t.Close()
		} else {
			ok = false
		}
		if ok {
			return base, nil
		}
	}
	return 0, errors.New("no run of free ports")
}

// proc is a child process whose stderr tail is kept for error messages.
type proc struct {
	cmd  *exec.Cmd
	tail *tailWriter
}

// startProc starts argv (prefixed by netns exec when ns is set); it is
// killed when ctx ends.
func startProc(ctx context.Context, ns string, argv ...string) (*proc, error) {
	if ns != "" {
		argv = append([]string{"ip", "netns", "exec", ns}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.WaitDelay = 3 * time.Second
	t := &tailWriter{}
	cmd.Stderr = t
	cmd.Stdout = t
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	return &proc{cmd: cmd, tail: t}, nil
}

// stop ends the process gently, then firmly.
func (p *proc) stop() {
	if p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

// tailWriter keeps the last 4 KiB written to it. It is read for error
// messages while exec's copying goroutine may still write.
type tailWriter struct {
	mu sync.Mutex
	b  []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = t.b[len(t.b)-4096:]
	}
	return len(p), nil
}

func (t *tailWriter) bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.b...)
}

func (t *tailWriter) String() string { return strings.TrimSpace(string(t.bytes())) }

// farm is a running reader farm.
type farm struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Scanner
	errs  *tailWriter
	lines chan string
}

// startFarm starts a reader farm (in namespace ns when set) and waits up to
// 30 s for all its readers to be playing.
func startFarm(ctx context.Context, ns string, spec farmSpec) (*farm, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	argv := []string{self}
	if ns != "" {
		argv = append([]string{"ip", "netns", "exec", ns}, argv...)
	}
	b, _ := json.Marshal(spec)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), farmEnv+"="+string(b))
	cmd.WaitDelay = 3 * time.Second
	f := &farm{cmd: cmd, errs: &tailWriter{}, lines: make(chan string, 16)}
	cmd.Stderr = f.errs
	if f.in, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start reader farm: %w", err)
	}
	sc := bufio.NewScanner(out)
	go func() {
		defer close(f.lines)
		for sc.Scan() {
			f.lines <- sc.Text()
		}
	}()
	select {
	case l, ok := <-f.lines:
		if ok && l == "ready" {
			return f, nil
		}
	case <-time.After(30 * time.Second):
	}
	f.in.Close()
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	return nil, fmt.Errorf("reader farm of %d not ready: %s", spec.N, f.errs)
}

// mark asks for the counts since the previous mark.
func (f *farm) mark() (farmCounts, error) {
	var c farmCounts
	if _, err := io.WriteString(f.in, "mark\n"); err != nil {
		return c, fmt.Errorf("reader farm: %w: %s", err, f.errs)
	}
	select {
	case l, ok := <-f.lines:
		if !ok {
			return c, fmt.Errorf("reader farm ended: %s", f.errs)
		}
		return c, json.Unmarshal([]byte(l), &c)
	case <-time.After(10 * time.Second):
		return c, errors.New("reader farm silent")
	}
}

// close ends the farm and returns whatever else it printed.
func (f *farm) close() []string {
	f.in.Close()
	var rest []string
	timeout := time.After(60 * time.Second)
	for {
		select {
		case l, ok := <-f.lines:
			if !ok {
				_ = f.cmd.Wait()
				return rest
			}
			rest = append(rest, l)
		case <-timeout:
			_ = f.cmd.Process.Kill()
			_ = f.cmd.Wait()
			return rest
		}
	}
}
