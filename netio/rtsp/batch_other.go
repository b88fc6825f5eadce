//go:build !linux

package rtsp

import (
	"errors"
	"net"
	"os"
	"time"

	"golang.org/x/net/ipv4"
)

// Elsewhere than Linux (lsview's platforms: this package's client runs
// there, a broadcaster is not expected to) the fan-out sends from
// gortsplib's socket itself, through x/net's WriteBatch, which sends one
// datagram a call where there is no sendmmsg.

func listenConfig(bool) net.ListenConfig { return net.ListenConfig{} }

// batchConn sends batches of datagrams from conn.
type batchConn struct {
	conn   *net.UDPConn
	pc     *ipv4.PacketConn
	budget time.Duration
	msgs   []ipv4.Message
}

func newBatchConn(conn *net.UDPConn, budget time.Duration) (*batchConn, error) {
	return &batchConn{conn: conn, pc: ipv4.NewPacketConn(conn), budget: budget}, nil
}

func (b *batchConn) close() error { return nil }

// errBudget says the socket's buffer stayed full for the whole budget.
var errBudget = errors.New("send buffer full for the frame's budget")

// writeBatch sends bufs[i] to dsts[i] from the start and returns how many
// went. An error is the first unsent datagram's: errBudget, or its
// destination's own.
func (b *batchConn) writeBatch(bufs [][]byte, dsts []*net.UDPAddr) (int, error) {
	if cap(b.msgs) < len(bufs) {
		b.msgs = make([]ipv4.Message, len(bufs))
	}
	msgs := b.msgs[:len(bufs)]
	for i := range msgs {
		msgs[i] = ipv4.Message{Buffers: bufs[i : i+1], Addr: dsts[i]}
	}
	b.conn.SetWriteDeadline(time.Now().Add(b.budget))
	n, err := b.pc.WriteBatch(msgs, 0)
	clear(msgs)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = errBudget
	}
	return n, err
}
