package rtsp

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// On Linux the fan-out sends from a socket of its own, bound to the same
// address and port as gortsplib's RTP listener, blocking and outside Go's
// network poller. Sending from the poller's socket costs a thread wake-up a
// datagram: each datagram's memory is freed (on loopback at once, on a NIC
// at transmit completion), which makes the socket writable, which wakes
// the poller's epoll_wait, which finds nothing to do. At 64 readers that is
// some 130,000 wake-ups a second, most of the fan-out's cost (perf on
// x86-64, kernel 6.18); GStreamer's blocking GSocket has none.
//
// Both sockets are in one SO_REUSEPORT group, so the second can bind the
// port, and a one-instruction BPF program steers every datagram that
// arrives at the port to the group's first socket, gortsplib's: it reads
// as before and the sending socket never receives anything.

// listenConfig opens gortsplib's RTP listener ready to share its port.
func listenConfig(rtp bool) net.ListenConfig {
	if !rtp {
		return net.ListenConfig{}
	}
	return net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		})
		return errors.Join(err, serr)
	}}
}

// mmsghdr is the kernel's struct mmsghdr; Go lays it out as C does on
// 32- and 64-bit platforms alike.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// batchConn sends batches of datagrams with sendmmsg.
type batchConn struct {
	fd   int
	inet bool // AF_INET; else AF_INET6, IPv4 readers as v4-mapped addresses

	// gso says the socket has UDP_SEGMENT set to MaxPacketSize: a run of
	// one reader's packets goes as one message, which the kernel cuts
	// into the same datagrams. Where it can't (see segmentRefused), off
	// for good, and why in noSegments until told.
	gso        bool
	noSegments error

	hdrs  []mmsghdr
	iovs  []unix.Iovec            // two a packet: a reader's own RTP header, the shared rest
	names []unix.RawSockaddrInet6 // large enough for either family
	runs  []int                   // packets a message
	zones map[string]uint32       // IPv6 scope ids by zone name
}

const (
	// gsoSize is the segment size of a GSO message: every packet but a
	// frame's last is MaxPacketSize (packetize fills each to payloadMax,
	// the first's quantisation tables included), and the kernel needs
	// all segments but the last to be the segment size.
	gsoSize = MaxPacketSize
	// gsoMaxSegments is the kernel's UDP_MAX_SEGMENTS (64 since Linux
	// 4.18, more in later kernels) and gsoMaxBytes the most a UDP
	// datagram carries over IPv4, which bounds a GSO message too: 46
	// packets of MaxPacketSize.
	gsoMaxSegments = 64
	gsoMaxBytes    = 65507
)

// newBatchConn opens the sending socket beside conn, bound where conn is.
// A send waits at most budget for the socket's buffer. Where the kernel
// (or an emulator such as qemu-user) refuses a step of that, it sends from
// conn itself (pollConn) and says why in degraded.
func newBatchConn(conn *net.UDPConn, budget time.Duration) (b batcher, degraded error) {
	bc, err := newBesideConn(conn, budget)
	if err != nil {
		return newPollConn(conn, budget), err
	}
	return bc, nil
}

// newBesideConn opens the sending socket beside conn.
func newBesideConn(conn *net.UDPConn, budget time.Duration) (*batchConn, error) {
	var (
		local  unix.Sockaddr
		v6only int
		err    error
	)
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		if local, serr = unix.Getsockname(int(fd)); serr != nil {
			return
		}
		if _, ok := local.(*unix.SockaddrInet6); ok {
			v6only, serr = unix.GetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_V6ONLY)
		}
	}); err != nil || serr != nil {
		return nil, fmt.Errorf("rtp socket: %w", errors.Join(err, serr))
	}
	b := &batchConn{zones: map[string]uint32{}}
	family := unix.AF_INET6
	if _, ok := local.(*unix.SockaddrInet4); ok {
		family, b.inet = unix.AF_INET, true
	}
	b.fd, err = unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, fmt.Errorf("sending socket: %w", err)
	}
	tv := unix.NsecToTimeval(budget.Nanoseconds())
	// Steer every arriving datagram to the group's socket 0, the first
	// bound: gortsplib's.
	steer := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: 0}}
	for _, step := range []func() error{
		func() error { return unix.SetsockoptInt(b.fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1) },
		func() error {
			if b.inet {
				return nil
			}
			return unix.SetsockoptInt(b.fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v6only)
		},
		func() error { return unix.Bind(b.fd, local) },
		func() error {
			return unix.SetsockoptSockFprog(b.fd, unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF,
				&unix.SockFprog{Len: uint16(len(steer)), Filter: &steer[0]})
		},
		func() error { return unix.SetsockoptTimeval(b.fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv) },
		func() error { return unix.SetsockoptInt(b.fd, unix.SOL_SOCKET, unix.SO_SNDBUF, sendBuffer) },
	} {
		if err := step(); err != nil {
			unix.Close(b.fd)
			return nil, fmt.Errorf("sending socket beside %s: %w", conn.LocalAddr(), err)
		}
	}
	// UDP GSO wherever the kernel does it: a 720p frame is some 70
	// packets, two GSO messages a reader, and one trip through the stack
	// for 46 datagrams cut 16 readers' frame from 4.0 to 0.8 ms of CPU
	// (BenchmarkFanoutSend, x86-64, loopback), and the sender's CPU per
	// frame per reader at 64 readers from 1.0 to 0.31 of GStreamer's
	// (lsbench, issue 15).
	b.segment(true)
	return b, nil
}

// segment turns UDP GSO on or off. A kernel before 4.18 or an emulator
// refuses the option (ENOPROTOOPT, EINVAL): then every packet is a
// message, as without.
func (b *batchConn) segment(on bool) {
	if !on {
		b.gso = false
		unix.SetsockoptInt(b.fd, unix.SOL_UDP, unix.UDP_SEGMENT, 0) //nolint:errcheck // a message of one packet is never cut
		return
	}
	if err := unix.SetsockoptInt(b.fd, unix.SOL_UDP, unix.UDP_SEGMENT, gsoSize); err != nil {
		b.gso, b.noSegments = false, fmt.Errorf("setsockopt UDP_SEGMENT: %w", err)
		return
	}
	b.gso = true
}

// segmentRefused says whether errno, a GSO message's, is the kernel
// refusing to segment it rather than its destination's error: EIO from a
// device without checksum offload, EINVAL for a path whose MTU is below a
// segment or a socket without checksums, EOPNOTSUPP and ENOPROTOOPT from
// an emulator that passed the option on but not the sends.
func segmentRefused(errno unix.Errno) bool {
	switch errno {
	case unix.EIO, unix.EINVAL, unix.EOPNOTSUPP, unix.ENOPROTOOPT:
		return true
	}
	return false
}

func (b *batchConn) noGSO() error {
	err := b.noSegments
	b.noSegments = nil
	return err
}

func (b *batchConn) close() error { return unix.Close(b.fd) }

// writeBatch sends hdrs[i] and bodies[i] as one datagram to dsts[i] from
// the start, in one system call, as many as the kernel takes, and returns
// how many went. With GSO a message carries a run of packets to one
// destination (see run), else one packet. An error is the first unsent
// message's: errBudget, or its destination's own, which costs failed
// packets, the message's.
func (b *batchConn) writeBatch(rtpHdrs, bodies [][]byte, dsts []*net.UDPAddr) (sent, failed int, err error) {
	for {
		m := b.messages(rtpHdrs, bodies, dsts)
		n, errno := b.sendmmsg(m)
		if errno == 0 {
			for _, c := range b.runs[:n] {
				sent += c
			}
			return sent, 0, nil
		}
		if b.gso && b.runs[0] > 1 && segmentRefused(errno) {
			b.segment(false)
			b.noSegments = fmt.Errorf("a GSO send to %s: %w", dsts[0], errno)
			continue // the same packets, a message each
		}
		if errno == unix.EAGAIN {
			return 0, 0, errBudget
		}
		return 0, b.runs[0], errno
	}
}

// messages lays out the first messages of the batch, at most 1024
// (UIO_MAXIOV: the kernel takes no more a call), into b.hdrs and the
// packets each carries into b.runs, and returns how many.
func (b *batchConn) messages(rtpHdrs, bodies [][]byte, dsts []*net.UDPAddr) int {
	np := len(bodies)
	if cap(b.iovs) < 2*np {
		b.iovs = make([]unix.Iovec, 2*np)
	}
	if m := min(np, 1024); cap(b.hdrs) < m {
		b.hdrs, b.names, b.runs = make([]mmsghdr, m), make([]unix.RawSockaddrInet6, m), make([]int, m)
	}
	m, v := 0, 0 // messages, iovecs
	for i := 0; i < np && m < 1024; m++ {
		c := 1
		if b.gso {
			c = run(bodies[i:], rtpHdrs[i:], dsts[i:])
		}
		first := v
		for j := i; j < i+c; j++ {
			if h := rtpHdrs[j]; h != nil {
				b.iovs[v].Base = &h[0]
				b.iovs[v].SetLen(len(h))
				v++
			} else if v > first && adjoins(&b.iovs[v-1], bodies[j]) {
				// An unthinned reader's packets lie back to back in
				// the frame: one iovec for all.
				b.iovs[v-1].SetLen(int(b.iovs[v-1].Len) + len(bodies[j]))
				continue
			}
			b.iovs[v].Base = &bodies[j][0]
			b.iovs[v].SetLen(len(bodies[j]))
			v++
		}
		h := &b.hdrs[m]
		*h = mmsghdr{}
		h.hdr.Iov = &b.iovs[first]
		h.hdr.SetIovlen(v - first)
		h.hdr.Name = (*byte)(unsafe.Pointer(&b.names[m]))
		h.hdr.Namelen = b.sockaddr(&b.names[m], dsts[i])
		b.runs[m] = c
		i += c
	}
	return m
}

// adjoins says whether body starts where the iovec ends.
func adjoins(iov *unix.Iovec, body []byte) bool {
	return uintptr(unsafe.Pointer(iov.Base))+uintptr(iov.Len) == uintptr(unsafe.Pointer(&body[0]))
}

// run is how many of the first packets, to one destination, one GSO
// message takes: the kernel cuts a message into segments of gsoSize, the
// last one shorter, at most gsoMaxSegments and gsoMaxBytes in all.
func run(bodies, rtpHdrs [][]byte, dsts []*net.UDPAddr) int {
	size := len(rtpHdrs[0]) + len(bodies[0])
	c := 1
	for c < len(bodies) && c < gsoMaxSegments && dsts[c] == dsts[0] && size == c*gsoSize {
		next := len(rtpHdrs[c]) + len(bodies[c])
		if next > gsoSize || size+next > gsoMaxBytes {
			break
		}
		size += next
		c++
	}
	return c
}

// sendmmsg sends the first m messages of b.hdrs and returns how many
// went, or the first's error.
func (b *batchConn) sendmmsg(m int) (int, unix.Errno) {
	hdrs := unsafe.Pointer(&b.hdrs[0])
	// First without waiting, and without telling Go's scheduler: a call
	// that doesn't block needs no hand-off of the thread's P, and one
	// through entersyscall would wake the runtime's monitor thread
	// (sysmon) from its sleep every frame, after which it polls every
	// 20 µs while anything runs: most of a frame's fixed cost at one
	// reader. Only when the send buffer is full does the call go through
	// the scheduler and wait, for at most the socket's budget.
	r, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(b.fd), uintptr(hdrs), uintptr(m), unix.MSG_DONTWAIT, 0, 0)
	if errno != unix.EAGAIN && errno != unix.EINTR {
		return int(r), errno
	}
	for {
		r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(b.fd), uintptr(hdrs), uintptr(m), 0, 0, 0)
		if errno != unix.EINTR {
			return int(r), errno
		}
	}
}

// sockaddr writes a's address into sa for the socket's family and
// returns its length.
func (b *batchConn) sockaddr(sa *unix.RawSockaddrInet6, a *net.UDPAddr) uint32 {
	if b.inet {
		s4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		*s4 = unix.RawSockaddrInet4{Family: unix.AF_INET}
		putPort(&s4.Port, a.Port)
		copy(s4.Addr[:], a.IP.To4())
		return unix.SizeofSockaddrInet4
	}
	*sa = unix.RawSockaddrInet6{Family: unix.AF_INET6}
	putPort(&sa.Port, a.Port)
	copy(sa.Addr[:], a.IP.To16()) // an IPv4 reader as ::ffff:a.b.c.d
	if a.Zone != "" {
		sa.Scope_id = b.scope(a.Zone)
	}
	return unix.SizeofSockaddrInet6
}

// putPort writes port in network byte order, whatever the machine's.
func putPort(p *uint16, port int) {
	b := (*[2]byte)(unsafe.Pointer(p))
	b[0], b[1] = byte(port>>8), byte(port)
}

// scope is a link-local zone's interface index, looked up once.
func (b *batchConn) scope(zone string) uint32 {
	id, ok := b.zones[zone]
	if !ok {
		if ifi, err := net.InterfaceByName(zone); err == nil {
			id = uint32(ifi.Index)
		}
		b.zones[zone] = id
	}
	return id
}
