package netlab_test

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// TestLossIsPerPacket: SetLoss drops packets, not the UDP GSO messages
// a sender hands the kernel. lsbroadcast's fan-out sends a picture's
// packets to a reader as messages of up to 46 segments; over a veth that
// passes them on whole, nftables in B saw one packet a message, so 2 %
// "random" loss lost whole halves of pictures at once (TestLossRecovered
// then saw 5 % of its packets asked for again and was thinned). On a real
// link the kernel or the NIC cuts the message into packets before they
// reach the air, and loss takes them one by one. Here: 10 messages of 40
// segments at 50 % loss; a message lost whole, or not at all, has a chance
// of 2^-39 when loss is per packet.
func TestLossIsPerPacket(t *testing.T) {
	p := testenv.NetPair(t)
	if err := p.SetLoss(50); err != nil {
		t.Fatal(err)
	}
	rx := udpIn(t, p.B, &net.UDPAddr{IP: net.ParseIP(p.IPB)})
	tx := udpIn(t, p.A, &net.UDPAddr{IP: net.ParseIP(p.IPA)})
	raw, err := tx.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	const seg, segs, messages = 1000, 40, 10
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_SEGMENT, seg)
	}); err != nil || serr != nil {
		t.Fatalf("UDP_SEGMENT: %v %v", err, serr)
	}
	// A message at a time, read before the next: 400 datagrams at once
	// overflow the receiving socket's buffer, which is not the loss
	// under test.
	msg := make([]byte, seg*segs)
	got := make([]int, messages)
	buf := make([]byte, 2*seg)
	for m := range messages {
		for s := range segs {
			binary.BigEndian.PutUint32(msg[s*seg:], uint32(m))
		}
		if _, err := tx.WriteTo(msg, rx.LocalAddr()); err != nil {
			t.Fatalf("send message %d: %v", m, err)
		}
		rx.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		for {
			n, _, err := rx.ReadFrom(buf)
			if err != nil {
				break // the deadline: what was sent has come or was dropped
			}
			if n != seg {
				t.Fatalf("a datagram of %d bytes, want %d", n, seg)
			}
			if k := binary.BigEndian.Uint32(buf); k < messages {
				got[k]++
			}
		}
	}
	for m, n := range got {
		if n == 0 || n == segs {
			t.Errorf("message %d: %d of %d segments arrived at 50 %% loss: dropped whole or not at all (per message, not per packet); all: %v", m, n, segs, got)
		}
	}
}

// udpIn opens a UDP socket on addr (port 0: any) in namespace ns; the
// socket stays in ns whatever thread uses it later. It is opened on a
// thread of its own that is never unlocked, so the runtime ends the thread
// with its goroutine instead of running others in ns.
func udpIn(t *testing.T, ns string, addr *net.UDPAddr) *net.UDPConn {
	t.Helper()
	type opened struct {
		c   *net.UDPConn
		err error
	}
	ch := make(chan opened)
	go func() {
		runtime.LockOSThread()
		target, err := os.Open("/run/netns/" + ns)
		if err != nil {
			ch <- opened{err: err}
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- opened{err: fmt.Errorf("setns %s: %w", ns, err)}
			return
		}
		c, err := net.ListenUDP("udp4", addr)
		ch <- opened{c, err}
	}()
	o := <-ch
	if o.err != nil {
		t.Fatal(o.err)
	}
	t.Cleanup(func() { o.c.Close() })
	return o.c
}
