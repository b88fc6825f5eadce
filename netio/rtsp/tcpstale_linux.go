package rtsp

import (
	"net"
	"syscall"
)

// tcpNotSentLowatOpt is TCP_NOTSENT_LOWAT (linux/tcp.h), not in syscall.
const tcpNotSentLowatOpt = 25

// setNotSentLowat caps the unsent bytes c's socket holds at n.
func setNotSentLowat(c *net.TCPConn, n int) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpNotSentLowatOpt, n) //nolint:errcheck // best effort, see Accept
	})
}
