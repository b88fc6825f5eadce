//go:build !unix

package testenv

import "os/exec"

// Elsewhere than Unix (Windows: the portable packages must build there)
// there are no process groups and no SIGTERM: the process itself is
// killed, not its children. The browser tests run on Linux.

func ownGroup(*exec.Cmd) {}

func signalGroup(cmd *exec.Cmd, _ bool) { cmd.Process.Kill() }
