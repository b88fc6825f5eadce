package rtsp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpmjpeg"
	"github.com/pion/rtp"

	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// readerFarmEnv makes the test binary a farm of RTSP readers in its own
// process, so the benchmark's CPU figures are the server's alone.
const readerFarmEnv = "LSB_RTSP_READER_FARM"

func TestMain(m *testing.M) {
	testenv.Main(m, testenv.Children{readerFarmEnv: readerFarm, thinServerEnv: thinServer, thinReaderEnv: thinReader,
		lossReaderEnv: lossReader})
}

// reader plays url over UDP and calls onFrame for each complete JPEG with
// its RTP timestamp.
func reader(url string, onFrame func(ts uint32)) (*gortsplib.Client, error) {
	u, err := base.ParseURL(url)
	if err != nil {
		return nil, err
	}
	udp := gortsplib.ProtocolUDP
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &udp,
		// A 720p frame is a burst of about 100 datagrams, each taking some
		// 2.3 KiB of socket buffer: the default 208 KiB overflows whenever
		// the reader lags. Same size as GStreamer's rtspsrc.
		UDPReadBufferSize: 0x80000}
	if err := c.Start(); err != nil {
		return nil, err
	}
	desc, _, err := c.Describe(u)
	if err != nil {
		c.Close()
		return nil, err
	}
	var forma *format.MJPEG
	medi := desc.FindFormat(&forma)
	if medi == nil {
		c.Close()
		return nil, errors.New("no M-JPEG")
	}
	dec, err := forma.CreateDecoder()
	if err != nil {
		c.Close()
		return nil, err
	}
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		c.Close()
		return nil, err
	}
	c.OnPacketRTP(medi, forma, func(pkt *rtp.Packet) {
		if _, err := dec.Decode(pkt); err == nil {
			onFrame(pkt.Timestamp)
		} else if !errors.Is(err, rtpmjpeg.ErrMorePacketsNeeded) && !errors.Is(err, rtpmjpeg.ErrNonStartingPacketAndNoPrevious) {
			return
		}
	})
	if _, err := c.Play(nil); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// readerFarm runs "N URL": N readers until standard input closes, then
// prints the complete frames each received, one number a line.
func readerFarm(spec string) int {
	nStr, url, _ := strings.Cut(spec, " ")
	n, _ := strconv.Atoi(nStr)
	counts := make([]atomic.Int64, n)
	var clients []*gortsplib.Client
	for i := range n {
		c, err := reader(url, func(uint32) { counts[i].Add(1) })
		if err != nil {
			fmt.Fprintln(os.Stderr, "reader:", err)
			return 1
		}
		clients = append(clients, c)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	for i, c := range clients {
		c.Close()
		fmt.Println(counts[i].Load())
	}
	return 0
}

// startFarm starts n readers of s in a child process.
func startFarm(b *testing.B, s *Server, n int) (stop func() []int64) {
	b.Helper()
	cmd := testenv.Child(readerFarmEnv, fmt.Sprintf("%d %s", n, s.URL("127.0.0.1")))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	ready := make(chan bool, 1)
	go func() { ready <- sc.Scan() && sc.Text() == "ready" }()
	// Frames keep flowing while the readers connect, as in real life.
	jpg := testJPEG(b, 1280, 720)
	for wait := time.After(30 * time.Second); ; {
		select {
		case ok := <-ready:
			if !ok {
				cmd.Process.Kill()
				cmd.Wait()
				b.Fatal("reader farm failed")
			}
			return func() []int64 {
				stdin.Close()
				var counts []int64
				for sc.Scan() {
					v, _ := strconv.ParseInt(sc.Text(), 10, 64)
					counts = append(counts, v)
				}
				cmd.Wait()
				return counts
			}
		case <-wait:
			cmd.Process.Kill()
			b.Fatal("reader farm not ready in 30 s")
		case <-time.After(33 * time.Millisecond):
			s.WriteJPEG(jpg, time.Now())
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFanout sends 1280×720 frames at 30 fps to N UDP readers in
// another process and reports the server's CPU time per frame and the
// share of frames the readers got complete, for the fan-out
// (path=sendmmsg) and for gortsplib's per-reader queues that it replaced
// (path=gortsplib).
func BenchmarkFanout(b *testing.B) {
	for _, path := range []string{"sendmmsg", "gortsplib"} {
		for _, n := range []int{1, 16, 64} {
			b.Run(fmt.Sprintf("path=%s/readers=%d", path, n), func(b *testing.B) {
				benchFanout(b, n, path == "gortsplib")
			})
		}
	}
}

// benchFanout is one BenchmarkFanout case: n readers, through gortsplib's
// queues when viaLibrary.
func benchFanout(b *testing.B, n int, viaLibrary bool) {
	s := startServer(b, func(s *Server) { s.udpViaLibrary = viaLibrary })
	stop := startFarm(b, s, n)
	jpg := testJPEG(b, 1280, 720)
	tick := time.NewTicker(time.Second / 30)
	defer tick.Stop()
	// Let the last reader's first frames land before measuring.
	time.Sleep(200 * time.Millisecond)
	sent := 0
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		<-tick.C
		if err := s.WriteJPEG(jpg, time.Now()); err != nil {
			b.Fatal(err)
		}
		sent++
	}
	cpu := cpuTime() - cpu0
	b.StopTimer()
	time.Sleep(200 * time.Millisecond)
	counts := stop()
	var got int64
	for _, c := range counts {
		got += c
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(sent), "cpu-µs/frame")
	b.ReportMetric(float64(cpu.Microseconds())/float64(sent*n), "cpu-µs/frame/reader")
	// Readers count from their first frame, before the timer, so
	// the share can exceed 1 by a few frames; that is fine.
	b.ReportMetric(float64(got)/float64(sent*n), "delivered")
	b.ReportMetric(float64(len(jpg)), "bytes/frame")
	// Packets the server dropped (a full queue on gortsplib's path,
	// a failed send on ours); the rest of any shortfall was lost in
	// the readers' sockets.
	b.ReportMetric(float64(s.Stats().ReaderDrops+s.Stats().UDPDrops), "server-drops")
	// Frames withheld from readers that reported loss (thin.go): part of
	// any shortfall in delivered, by design.
	b.ReportMetric(float64(s.Stats().Thinned), "thinned")
}

// BenchmarkLatency measures from WriteJPEG to the last packet of the frame
// decoded by a reader on loopback, 1280×720 at 30 fps.
func BenchmarkLatency(b *testing.B) {
	s := startServer(b)
	var (
		mu   sync.Mutex
		sent = map[uint32]time.Time{}
		lat  []time.Duration
	)
	c, err := reader(s.URL("127.0.0.1"), func(ts uint32) {
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		if t0, ok := sent[ts]; ok {
			lat = append(lat, now.Sub(t0))
			delete(sent, ts)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	jpg := testJPEG(b, 1280, 720)
	tick := time.NewTicker(time.Second / 30)
	defer tick.Stop()
	for b.Loop() {
		<-tick.C
		now := time.Now()
		mu.Lock()
		sent[uint32(now.Sub(s.start).Seconds()*jpegClockRate)] = now
		mu.Unlock()
		if err := s.WriteJPEG(jpg, now); err != nil {
			b.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(lat) == 0 {
		b.Fatal("no frame arrived")
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(len(lat))/float64(b.N), "delivered")
}

// BenchmarkFanoutSend is the writer alone: one 720p frame (about 100
// packets) to 16 readers' sockets on loopback, never read, so the kernel
// drops what overflows. allocs/op must stay 0: nothing is allocated per
// packet or per frame once the buffers have grown.
func BenchmarkFanoutSend(b *testing.B) { fanoutSend(b, false) }

// BenchmarkFanoutSendRenumbered is BenchmarkFanoutSend with every reader
// in a sequence space of its own (thin.go): each packet goes as the
// reader's 12-byte header and the shared payload, two iovecs.
func BenchmarkFanoutSendRenumbered(b *testing.B) { fanoutSend(b, true) }

func fanoutSend(b *testing.B, renumber bool) {
	lc := listenConfig(true) // as the server opens gortsplib's RTP socket
	pc, err := lc.ListenPacket(context.Background(), "udp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	conn := pc.(*net.UDPConn)
	defer conn.Close()
	rtcpConn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer rtcpConn.Close()
	f, err := newFanout(conn, rtcpConn, 1)
	if err != nil {
		b.Fatal(err)
	}
	defer f.close()
	for range 16 {
		sink, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		defer sink.Close()
		a := sink.LocalAddr().(*net.UDPAddr)
		r := &udpReader{rtp: a, rtcp: a}
		if renumber {
			r.thin.started, r.thin.next = true, 1000
		}
		f.add(r)
	}
	fr := putJPEG(b, f, testJPEG(b, 1280, 720), 0, time.Now())
	f.send(&f.ring[1], 1) // grows the buffers
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		f.send(&f.ring[1], 1)
	}
	b.ReportMetric(float64(len(fr.ends)*16), "datagrams/op")
}
