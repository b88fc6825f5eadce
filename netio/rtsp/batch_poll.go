package rtsp

import (
	"errors"
	"net"
	"os"
	"time"

	"golang.org/x/net/ipv4"
)

// batcher sends batches of datagrams from the server's RTP port.
type batcher interface {
	// writeBatch sends hdrs[i] followed by bodies[i], one datagram, to
	// dsts[i], from the start, and returns how many went; a nil hdrs[i]
	// sends bodies[i] alone. An error is the first unsent message's:
	// errBudget, or its destination's own, which loses failed datagrams
	// (a GSO message carries several).
	writeBatch(hdrs, bodies [][]byte, dsts []*net.UDPAddr) (sent, failed int, err error)
	// noGSO says once why datagrams go a message each although UDP GSO
	// was asked for; nil when they don't or it was said.
	noGSO() error
	close() error
}

// errBudget says the socket's buffer stayed full for the whole budget.
var errBudget = errors.New("send buffer full for the frame's budget")

// pollConn sends from gortsplib's socket itself, through x/net's
// WriteBatch (sendmmsg on Linux, a datagram a call elsewhere), waiting in
// Go's network poller: where a socket of our own beside gortsplib's can't
// be had (not Linux; a kernel or an emulator without SO_REUSEPORT's BPF
// steering).
type pollConn struct {
	conn   *net.UDPConn
	pc     *ipv4.PacketConn
	budget time.Duration
	msgs   []ipv4.Message
	bufs   [][]byte // two a message
}

func newPollConn(conn *net.UDPConn, budget time.Duration) *pollConn {
	conn.SetWriteBuffer(sendBuffer) //nolint:errcheck // the default buffer works, only less well beside slow paths
	return &pollConn{conn: conn, pc: ipv4.NewPacketConn(conn), budget: budget}
}

func (b *pollConn) close() error { return nil }

// noGSO is nil: the poller's socket is used where ours can't be had,
// which is reason enough, said once already.
func (b *pollConn) noGSO() error { return nil }

func (b *pollConn) writeBatch(hdrs, bodies [][]byte, dsts []*net.UDPAddr) (sent, failed int, err error) {
	if cap(b.msgs) < len(bodies) {
		b.msgs, b.bufs = make([]ipv4.Message, len(bodies)), make([][]byte, 2*len(bodies))
	}
	msgs := b.msgs[:len(bodies)]
	for i := range msgs {
		bufs := b.bufs[2*i : 2*i+2]
		if hdrs[i] == nil {
			bufs = append(bufs[:0], bodies[i])
		} else {
			bufs[0], bufs[1] = hdrs[i], bodies[i]
		}
		msgs[i] = ipv4.Message{Buffers: bufs, Addr: dsts[i]}
	}
	b.conn.SetWriteDeadline(time.Now().Add(b.budget))
	n, err := b.pc.WriteBatch(msgs, 0)
	clear(msgs)
	clear(b.bufs)
	switch {
	case err == nil:
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = errBudget
	default:
		failed = 1
	}
	return n, failed, err
}
