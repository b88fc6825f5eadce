package rtsp

import (
	"encoding/binary"
	"net"
	"sync"
	"time"
)

// A TCP-interleaved reader whose link is slower than the stream used to
// lose single packets from the tail of gortsplib's per-session queue, so
// almost every picture it got had a hole and it decoded none (ffprobe of
// the full picture behind a shared 20 Mbit/s link, issue 14). The fix is
// under gortsplib, on the connection it writes to: a picture that is
// already staleAfter old when its first packet reaches the socket is
// dropped whole, so the queue drains at memory speed and what goes out
// is whole pictures at the rate the link carries, never more than about
// staleAfter late. TCP_NOTSENT_LOWAT keeps the kernel from holding
// seconds of unsent stream behind the connection where age can't be seen.

const (
	// staleAfter: a picture this much older than now when it reaches a
	// TCP reader's socket is not sent. Pictures are handed to gortsplib
	// within milliseconds of capture, and a camera's capture time is at
	// most a frame or two before that.
	staleAfter = 250 * time.Millisecond
	// tcpNotSentLowat bounds the bytes a TCP connection holds unsent in
	// the kernel: a tenth of a second of a 10 Mbit/s picture.
	tcpNotSentLowat = 128 << 10
)

// staleListener gives gortsplib connections that drop stale pictures.
type staleListener struct {
	net.Listener
	epoch time.Time // the RTP epoch of every track (Server.start)
	now   func() time.Time
}

func (l *staleListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		// Best effort: without it the kernel's buffer adds latency, the
		// pictures stay whole.
		setNotSentLowat(tc, tcpNotSentLowat)
	}
	return &staleConn{Conn: c, epoch: l.epoch, now: l.now}, nil
}

// staleConn passes every write through except the RTP packets of a
// picture that was stale when its first packet came; gortsplib writes
// one interleaved frame a Write (pkg/conn WriteInterleavedFrame).
type staleConn struct {
	net.Conn
	epoch time.Time
	now   func() time.Time

	mu       sync.Mutex // gortsplib's writer goroutine and its RTSP replies
	started  bool
	picture  uint32 // RTP time of the picture being written
	dropping bool   // and whether it is dropped
	dropped  uint64 // pictures dropped
}

func (c *staleConn) Write(b []byte) (int, error) {
	ts, ok := rtpJPEGTime(b)
	if !ok {
		return c.Conn.Write(b)
	}
	c.mu.Lock()
	if !c.started || ts != c.picture {
		c.started, c.picture = true, ts
		c.dropping = c.age(ts) > staleAfter
		if c.dropping {
			c.dropped++
		}
	}
	drop := c.dropping
	c.mu.Unlock()
	if drop {
		return len(b), nil
	}
	return c.Conn.Write(b)
}

// age is how long ago the picture of RTP time ts was captured, from the
// 90 kHz clock's distance to now (modulo its 13-hour wrap).
func (c *staleConn) age(ts uint32) time.Duration {
	nowTS := uint32(c.now().Sub(c.epoch).Seconds() * jpegClockRate)
	ticks := int32(nowTS - ts)
	return time.Duration(int64(ticks) * int64(time.Second) / jpegClockRate)
}

// rtpJPEGTime is the RTP time of b when b is exactly one interleaved
// frame ('$', channel, 16-bit length) holding an RTP/JPEG packet of ours;
// RTCP (packet types 192–223 in the second byte) and RTSP text are not.
func rtpJPEGTime(b []byte) (uint32, bool) {
	if len(b) < 4+rtpHeaderSize || b[0] != '$' || int(binary.BigEndian.Uint16(b[2:4])) != len(b)-4 {
		return 0, false
	}
	p := b[4:]
	if p[0]>>6 != 2 || p[1]&0x7f != rtpJPEGType {
		return 0, false
	}
	return binary.BigEndian.Uint32(p[4:8]), true
}
