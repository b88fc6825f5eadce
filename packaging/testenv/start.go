package testenv

import (
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Proc is a process a test owns: its output is kept for the test to read,
// it is stopped when the test ends, and its standard error goes to the
// test's log if the test failed.
type Proc struct {
	Cmd            *exec.Cmd
	Stdout, Stderr SyncBuffer
	done           chan struct{}
	err            error
}

// stopGrace is how long Stop lets a process end on SIGTERM before it
// kills it: our programs stop within a second (lsbroadcast's test asserts
// it), Xvfb and avahi in less.
const stopGrace = 5 * time.Second

// Start starts cmd with its output kept in Stdout and Stderr.
func Start(t testing.TB, cmd *exec.Cmd) *Proc {
	t.Helper()
	p := &Proc{Cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &p.Stdout, &p.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("%s: stderr:\n%s", strings.Join(cmd.Args, " "), p.Stderr.String())
		}
	})
	return p
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is how the process exited (see exec.Cmd.Wait), once Done is closed.
func (p *Proc) Err() error {
	<-p.done
	return p.err
}

// Stop ends the process, if it still runs: SIGTERM, then a kill after
// five seconds. It returns once the process has exited.
func (p *Proc) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopGrace):
		p.Cmd.Process.Kill()
		<-p.done
	}
}

// Wait waits at most d for the process to exit by itself, fails the test
// if it is still running, and returns how it exited.
func (p *Proc) Wait(t testing.TB, d time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		t.Fatalf("%s still running after %v", p.Cmd.Args, d)
		return nil
	}
}

// WaitOutput waits at most d for the process to write s to its standard
// error, as a program says it is ready, and fails the test if it exits or
// the time runs out first.
func (p *Proc) WaitOutput(t testing.TB, s string, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for !strings.Contains(p.Stderr.String(), s) {
		select {
		case <-p.done:
			if strings.Contains(p.Stderr.String(), s) {
				return
			}
			t.Fatalf("%s exited (%v) before it wrote %q:\n%s", p.Cmd.Args[0], p.err, s, p.Stderr.String())
		case <-deadline:
			t.Fatalf("%s wrote no %q in %v:\n%s", p.Cmd.Args[0], s, d, p.Stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
