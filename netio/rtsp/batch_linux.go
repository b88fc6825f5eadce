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

	hdrs  []mmsghdr
	iovs  []unix.Iovec            // two a message: a reader's own RTP header, the shared rest
	names []unix.RawSockaddrInet6 // large enough for either family
	zones map[string]uint32       // IPv6 scope ids by zone name
}

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
	return b, nil
}

func (b *batchConn) close() error { return unix.Close(b.fd) }

// writeBatch sends hdr[i] and bodies[i] as one datagram to dsts[i] from
// the start, in one system call, as many as the kernel takes, and returns
// how many went. An error is the first unsent datagram's: errBudget, or
// its destination's own.
func (b *batchConn) writeBatch(rtpHdrs, bodies [][]byte, dsts []*net.UDPAddr) (int, error) {
	n := min(len(bodies), 1024) // UIO_MAXIOV: the kernel takes no more a call
	if cap(b.hdrs) < n {
		b.hdrs, b.iovs, b.names = make([]mmsghdr, n), make([]unix.Iovec, 2*n), make([]unix.RawSockaddrInet6, n)
	}
	hdrs, iovs, names := b.hdrs[:n], b.iovs[:2*n], b.names[:n]
	for i := range n {
		iov := iovs[2*i : 2*i+2]
		nv := 0
		if h := rtpHdrs[i]; h != nil {
			iov[0].Base = &h[0]
			iov[0].SetLen(len(h))
			nv++
		}
		iov[nv].Base = &bodies[i][0]
		iov[nv].SetLen(len(bodies[i]))
		hdrs[i] = mmsghdr{}
		hdrs[i].hdr.Iov = &iov[0]
		hdrs[i].hdr.SetIovlen(nv + 1)
		hdrs[i].hdr.Name = (*byte)(unsafe.Pointer(&names[i]))
		hdrs[i].hdr.Namelen = b.sockaddr(&names[i], dsts[i])
	}
	// First without waiting, and without telling Go's scheduler: a call
	// that doesn't block needs no hand-off of the thread's P, and one
	// through entersyscall would wake the runtime's monitor thread
	// (sysmon) from its sleep every frame, after which it polls every
	// 20 µs while anything runs: most of a frame's fixed cost at one
	// reader. Only when the send buffer is full does the call go through
	// the scheduler and wait, for at most the socket's budget.
	r, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(b.fd), uintptr(unsafe.Pointer(&hdrs[0])), uintptr(n), unix.MSG_DONTWAIT, 0, 0)
	switch errno {
	case 0:
		return int(r), nil
	case unix.EAGAIN, unix.EINTR:
	default:
		return 0, errno
	}
	for {
		r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(b.fd), uintptr(unsafe.Pointer(&hdrs[0])), uintptr(n), 0, 0, 0)
		switch errno {
		case 0:
			return int(r), nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, errBudget
		default:
			return 0, errno
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
