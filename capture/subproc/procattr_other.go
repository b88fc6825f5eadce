//go:build !linux && !freebsd

package subproc

import "syscall"

// dieWithParent: without Pdeathsig (macOS, Windows, …) the child outlives
// a parent that is killed outright; Close still stops it on every orderly
// exit, and the child stops at its next write to the closed pipe.
func dieWithParent() *syscall.SysProcAttr { return nil }
