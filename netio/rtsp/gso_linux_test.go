package rtsp

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// gsoMode is how the fan-out's socket sends in a test.
type gsoMode int

const (
	gsoOn      gsoMode = iota // UDP GSO
	gsoOff                    // a message a packet, as where the option is refused
	gsoRefused                // GSO asked for, the kernel refusing the first GSO send
)

func (m gsoMode) String() string { return [...]string{"gso", "off", "refused"}[m] }

// gsoFanout is a fan-out sending from addr on network, not running: the
// test calls send. Its log goes to logs.
func gsoFanout(t *testing.T, network, addr string, mode gsoMode) (f *fanout, logs *bytes.Buffer) {
	t.Helper()
	lc := listenConfig(true)
	pc, err := lc.ListenPacket(context.Background(), network, addr)
	if err != nil {
		testenv.Unavailable(t, "%s %s: %v", network, addr, err)
	}
	conn := pc.(*net.UDPConn)
	rtcpConn, err := net.ListenUDP(network, &net.UDPAddr{IP: conn.LocalAddr().(*net.UDPAddr).IP})
	if err != nil {
		t.Fatal(err)
	}
	f, degraded := newFanout(conn, rtcpConn, 1)
	t.Cleanup(func() { f.close(); conn.Close(); rtcpConn.Close() })
	logs = &bytes.Buffer{}
	f.log, f.noThin = slog.New(slog.NewTextHandler(logs, nil)), true
	b, ok := f.out.(*batchConn)
	if !ok {
		// qemu-user has no SO_ATTACH_REUSEPORT_CBPF: no socket of our
		// own, and so no GSO, only the poller's messages of a packet.
		if mode != gsoOff {
			testenv.Unavailable(t, "fan-out through the poller: %v", degraded)
		}
		return f, logs
	}
	if mode == gsoOff {
		b.segment(false)
	}
	if b.gso != (mode != gsoOff) {
		t.Fatalf("gso %v, want %v (%v)", b.gso, mode != gsoOff, b.noSegments)
	}
	if mode == gsoRefused {
		// A socket without UDP checksums can't segment (the kernel's
		// udp_send_skb and udp_v6_send_skb answer EINVAL), as a device
		// without checksum offload answers EIO: the first frame finds out.
		err := unix.SetsockoptInt(b.fd, unix.SOL_SOCKET, unix.SO_NO_CHECK, 1)
		if err == nil && !b.inet {
			err = unix.SetsockoptInt(b.fd, unix.SOL_UDP, unix.UDP_NO_CHECK6_TX, 1)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return f, logs
}

// gsoSink is a plain UDP reader's socket on network at ip.
func gsoSink(t *testing.T, network string, ip net.IP) (*net.UDPConn, *udpReader) {
	t.Helper()
	c, err := net.ListenUDP(network, &net.UDPAddr{IP: ip})
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadBuffer(4 << 20)
	t.Cleanup(func() { c.Close() })
	if network == "udp6" {
		// The refused socket's IPv6 datagrams carry no checksum.
		rc, err := c.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_NO_CHECK6_RX, 1)
		}); err != nil || serr != nil {
			t.Fatal(err, serr)
		}
	}
	a := c.LocalAddr().(*net.UDPAddr)
	return c, &udpReader{rtp: a, rtcp: a}
}

// TestGSOSendsTheSameDatagrams: a frame sent with UDP GSO, without it,
// and with GSO refused by the kernel on its first send arrives at a plain
// UDP reader as the same datagrams, boundaries and contents, with the
// stream's numbers for an unthinned reader and the reader's own for a
// renumbered (thinned) one, over IPv4, IPv6 and to IPv4 readers from a
// dual-stack socket; the counts of each reader are the frames'.
func TestGSOSendsTheSameDatagrams(t *testing.T) {
	nets := []struct {
		name, network, addr, sinkNet string
		sinkIP                       net.IP
	}{
		{"ipv4", "udp4", "127.0.0.1:0", "udp4", net.IPv4(127, 0, 0, 1)},
		{"ipv6", "udp6", "[::1]:0", "udp6", net.IPv6loopback},
		{"v4-mapped", "udp", "[::]:0", "udp4", net.IPv4(127, 0, 0, 1)},
	}
	// A 720p picture takes several GSO messages of gsoMaxBytes; a small
	// one is a single packet, shorter than a segment.
	pictures := [][]byte{testJPEG(t, 1280, 720), testJPEG(t, 64, 48)}
	for _, n := range nets {
		for _, mode := range []gsoMode{gsoOn, gsoOff, gsoRefused} {
			t.Run(n.name+"/"+mode.String(), func(t *testing.T) {
				f, logs := gsoFanout(t, n.network, n.addr, mode)
				fullC, full := gsoSink(t, n.sinkNet, n.sinkIP)
				ownC, own := gsoSink(t, n.sinkNet, n.sinkIP)
				own.thin.started, own.thin.next = true, 1000
				f.add(full)
				f.add(own)
				var want [][]byte // the stream's packets, in order
				seq, ownSeq := uint16(65500), uint16(1000)
				for i, jpg := range pictures {
					fr := putJPEG(t, f, jpg, seq, time.Now())
					if i == 0 && len(fr.ends) <= gsoMaxBytes/gsoSize {
						t.Fatalf("a 720p picture is %d packets: not enough for two GSO messages", len(fr.ends))
					}
					for j := range fr.ends {
						want = append(want, bytes.Clone(fr.packet(j)))
					}
					f.send(fr, fr.seq)
					seq += uint16(len(fr.ends))
				}
				gotFull, gotOwn := drain(fullC), drain(ownC)
				if len(gotFull) != len(want) || len(gotOwn) != len(want) {
					t.Fatalf("datagrams: unthinned %d, renumbered %d, want %d", len(gotFull), len(gotOwn), len(want))
				}
				size := 0
				for j, w := range want {
					if !bytes.Equal(gotFull[j], w) {
						t.Fatalf("unthinned datagram %d: %d bytes, differs from the stream's %d", j, len(gotFull[j]), len(w))
					}
					r := bytes.Clone(w)
					binary.BigEndian.PutUint16(r[2:4], ownSeq)
					ownSeq++
					if !bytes.Equal(gotOwn[j], r) {
						t.Fatalf("renumbered datagram %d: %d bytes, number %d, want %d bytes, number %d",
							j, len(gotOwn[j]), binary.BigEndian.Uint16(gotOwn[j][2:4]), len(r), binary.BigEndian.Uint16(r[2:4]))
					}
					size += len(w)
				}
				for _, r := range []*udpReader{full, own} {
					if r.packets.Load() != uint64(len(want)) || r.bytes.Load() != uint64(size) || r.dropped.Load() != 0 {
						t.Errorf("reader %s: %d packets, %d bytes, %d dropped; want %d, %d, 0",
							r.rtp, r.packets.Load(), r.bytes.Load(), r.dropped.Load(), len(want), size)
					}
				}
				if own.thin.next != ownSeq {
					t.Errorf("renumbered reader's next number %d, want %d", own.thin.next, ownSeq)
				}
				if b, ok := f.out.(*batchConn); ok && b.gso != (mode == gsoOn) {
					t.Errorf("gso %v after the frames, want %v", b.gso, mode == gsoOn)
				}
				lines := strings.Count(logs.String(), "without UDP GSO")
				if want := map[gsoMode]int{gsoOn: 0, gsoOff: 0, gsoRefused: 1}[mode]; lines != want {
					t.Errorf("%d log lines of falling back, want %d:\n%s", lines, want, logs)
				}
			})
		}
	}
}

// TestGSODestinationErrorCostsItsReader: a reader whose address the
// kernel refuses (IPv4 broadcast without SO_BROADCAST: EACCES) loses its
// whole frame, counted as its drops, and the readers on each side of it
// get theirs, with GSO and without.
func TestGSODestinationErrorCostsItsReader(t *testing.T) {
	for _, mode := range []gsoMode{gsoOn, gsoOff} {
		t.Run(mode.String(), func(t *testing.T) {
			f, _ := gsoFanout(t, "udp4", "127.0.0.1:0", mode)
			if _, ok := f.out.(*batchConn); !ok {
				testenv.Unavailable(t, "the poller's socket broadcasts (Go sets SO_BROADCAST): no destination error to provoke")
			}
			aC, a := gsoSink(t, "udp4", net.IPv4(127, 0, 0, 1))
			zC, z := gsoSink(t, "udp4", net.IPv4(127, 0, 0, 1))
			bad := &net.UDPAddr{IP: net.IPv4bcast, Port: 9}
			refused := &udpReader{rtp: bad, rtcp: bad}
			f.add(a)
			f.add(refused)
			f.add(z)
			fr := putJPEG(t, f, testJPEG(t, 1280, 720), 0, time.Now())
			np := uint64(len(fr.ends))
			f.send(fr, fr.seq)
			if got := len(drain(aC)); uint64(got) != np {
				t.Errorf("first reader: %d datagrams, want %d", got, np)
			}
			if got := len(drain(zC)); uint64(got) != np {
				t.Errorf("last reader: %d datagrams, want %d", got, np)
			}
			if refused.dropped.Load() != np || refused.packets.Load() != 0 || refused.bytes.Load() != 0 {
				t.Errorf("refused reader: %d dropped, %d packets, %d bytes; want %d, 0, 0",
					refused.dropped.Load(), refused.packets.Load(), refused.bytes.Load(), np)
			}
			if a.dropped.Load() != 0 || z.dropped.Load() != 0 {
				t.Errorf("drops of the others: %d, %d", a.dropped.Load(), z.dropped.Load())
			}
			if b, ok := f.out.(*batchConn); ok && b.gso != (mode == gsoOn) {
				t.Errorf("gso %v after a destination's error, want %v", b.gso, mode == gsoOn)
			}
		})
	}
}

// TestGSORun: how many packets one GSO message takes.
func TestGSORun(t *testing.T) {
	full := make([]byte, gsoSize)
	body := full[rtpHeaderSize:]
	hdr := full[:rtpHeaderSize]
	a, b := &net.UDPAddr{Port: 1}, &net.UDPAddr{Port: 2}
	// packets builds n packets to dst of gsoSize, the last of size last,
	// with a header of their own when own.
	type pkt struct {
		dst  *net.UDPAddr
		size int
		own  bool
	}
	many := func(n int, dst *net.UDPAddr, last int) []pkt {
		p := make([]pkt, n)
		for i := range p {
			p[i] = pkt{dst, gsoSize, false}
		}
		p[n-1].size = last
		return p
	}
	for _, c := range []struct {
		name string
		pkts []pkt
		want int
	}{
		{"one short packet", many(1, a, 100), 1},
		{"a frame's packets", many(5, a, 700), 5},
		{"all full", many(5, a, gsoSize), 5},
		{"the bytes' bound", many(100, a, 700), gsoMaxBytes / gsoSize},
		{"a short packet ends a message", append(many(3, a, 700), many(3, a, 700)...), 3},
		{"another destination ends a message", append(many(3, a, gsoSize), many(3, b, 700)...), 3},
		{"own headers", []pkt{{a, gsoSize, true}, {a, gsoSize, true}, {a, 80, true}}, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			hdrs, bodies, dsts := make([][]byte, len(c.pkts)), make([][]byte, len(c.pkts)), make([]*net.UDPAddr, len(c.pkts))
			for i, p := range c.pkts {
				bodies[i], dsts[i] = full[:p.size], p.dst
				if p.own {
					hdrs[i], bodies[i] = hdr, body[:p.size-rtpHeaderSize]
				}
			}
			if got := run(bodies, hdrs, dsts); got != c.want {
				t.Errorf("run: %d packets, want %d", got, c.want)
			}
		})
	}
}
