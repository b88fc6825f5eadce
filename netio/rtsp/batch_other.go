//go:build !linux

package rtsp

import (
	"net"
	"time"
)

// Elsewhere than Linux (lsview's platforms: this package's client runs
// there, a broadcaster is not expected to) the fan-out sends from
// gortsplib's socket itself (pollConn).

func listenConfig(bool) net.ListenConfig { return net.ListenConfig{} }

func newBatchConn(conn *net.UDPConn, budget time.Duration) (b batcher, degraded error) {
	return newPollConn(conn, budget), nil
}
