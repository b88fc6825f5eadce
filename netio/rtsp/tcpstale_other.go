//go:build !linux

package rtsp

import "net"

// setNotSentLowat does nothing where TCP_NOTSENT_LOWAT is not Linux's.
func setNotSentLowat(*net.TCPConn, int) {}
