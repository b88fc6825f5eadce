//go:build linux || freebsd

package subproc

import "syscall"

// dieWithParent has the kernel kill the child when we die, even by
// SIGKILL, so a camera is never held by an orphan.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
