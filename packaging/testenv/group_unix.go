//go:build unix

package testenv

import (
	"os/exec"
	"syscall"
)

// ownGroup makes cmd, once started, the leader of a process group of its
// own, so that signalGroup reaches the children it starts (a browser's
// content processes) too.
func ownGroup(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }

// signalGroup sends the group of cmd SIGTERM, or SIGKILL when kill is set.
func signalGroup(cmd *exec.Cmd, kill bool) {
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	syscall.Kill(-cmd.Process.Pid, sig)
}
