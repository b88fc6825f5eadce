package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

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
