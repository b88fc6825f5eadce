package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpmjpeg"
	"github.com/bluenviron/gortsplib/v5/pkg/sdp"
	"github.com/pion/rtp"

	"github.com/lsbroadcast/lsbroadcast/capture/pattern"
	"github.com/lsbroadcast/lsbroadcast/netio/rtsp"
)

// farmEnv makes lsbench a farm of readers in its own process, so the CPU
// the readers burn is never counted as a server's. The value is a
// farmSpec in JSON.
const farmEnv = "LSBENCH_FARM"

// udpReadBuffer is every reader's socket buffer: a 720p frame is a burst
// of about 100 datagrams and the kernel's default 208 KiB overflows when
// a reader lags. Same size as GStreamer's rtspsrc (and as MediaMTX's
// udpKernelReadBufferSize), for our readers and the peer's alike.
const udpReadBuffer = 0x80000

// farmSpec says what the farm reads.
type farmSpec struct {
	// RTSP is the URL N gortsplib clients play over UDP; when empty, the
	// farm listens for plain RTP/JPEG on Host:Port … Port+N-1 (what
	// GStreamer's multiudpsink and udpsink send). With both RTSP and
	// Port, each reader is an RTSP session of its own (DESCRIBE, SETUP
	// with client ports Port+2i and Port+2i+1, PLAY, the connection kept
	// open) read as plain sockets: a real session at the server, and a
	// reader as cheap as GStreamer's.
	RTSP string `json:"rtsp,omitempty"`
	Host string `json:"host,omitempty"`
	Port int    `json:"port,omitempty"`
	N    int    `json:"n"`
	// NACK, with RTSP and no Port, makes each reader lsview's own
	// receiver (netio/rtsp.Client over UDP), which asks for lost packets
	// again: the loss benchmark's retransmission column.
	NACK bool `json:"nack,omitempty"`
	// Record keeps each complete frame of reader 0 with its arrival time;
	// at the end the farm reads the pattern strip of each and prints
	// "seq unixnano" lines, for latency.
	Record bool `json:"record,omitempty"`
}

// farmCounts is what the farm prints for each "mark" line on its input:
// complete frames per reader since the previous mark, and pictures seen
// but incomplete, over all readers.
type farmCounts struct {
	Frames     []int64 `json:"frames"`
	Incomplete int64   `json:"incomplete"`
	Bytes      int64   `json:"bytes"`
}

// farmReader counts one reader's pictures. push runs on a single
// goroutine per reader; the counters are read by the farm's loop.
type farmReader struct {
	dec        *rtpmjpeg.Decoder
	ts         uint32
	started    bool
	done       bool
	frames     atomic.Int64
	incomplete atomic.Int64
	bytes      atomic.Int64
	onFrame    func([]byte)
}

func newFarmReader() (*farmReader, error) {
	d := &rtpmjpeg.Decoder{}
	if err := d.Init(); err != nil {
		return nil, err
	}
	return &farmReader{dec: d}, nil
}

func (r *farmReader) push(pkt *rtp.Packet) {
	if !r.started || pkt.Timestamp != r.ts {
		if r.started && !r.done {
			r.incomplete.Add(1)
		}
		r.started, r.ts, r.done = true, pkt.Timestamp, false
	}
	if r.done {
		return
	}
	img, err := r.dec.Decode(pkt)
	if err != nil {
		return
	}
	r.done = true
	r.frames.Add(1)
	r.bytes.Add(int64(len(img)))
	if r.onFrame != nil {
		r.onFrame(img)
	}
}

// runFarm is the farm's main: it returns the process exit status.
func runFarm(specJSON string) int {
	var spec farmSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		fmt.Fprintln(os.Stderr, "lsbench farm: bad spec:", err)
		return 2
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	readers := make([]*farmReader, spec.N)
	for i := range readers {
		r, err := newFarmReader()
		if err != nil {
			fmt.Fprintln(os.Stderr, "lsbench farm:", err)
			return 1
		}
		readers[i] = r
	}
	type arrival struct {
		at   time.Time
		jpeg []byte
	}
	var (
		recMu sync.Mutex
		rec   []arrival
	)
	if spec.Record {
		readers[0].onFrame = func(j []byte) {
			now := time.Now()
			recMu.Lock()
			// Bounded: a few minutes at 30 fps is far more than any run.
			if len(rec) < 10000 {
				rec = append(rec, arrival{now, j})
			}
			recMu.Unlock()
		}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for i, r := range readers {
		var err error
		if spec.RTSP != "" && spec.Port != 0 {
			var conn *net.UDPConn
			var rc net.Conn
			conn, rc, err = playPlain(spec.RTSP, spec.Host, spec.Port+2*i)
			if err == nil {
				wg.Go(func() { readUDP(conn, r) })
				wg.Go(func() {
					<-ctx.Done()
					rc.Close()
					conn.Close()
				})
			}
		} else if spec.RTSP != "" && spec.NACK {
			c := &rtsp.Client{URL: spec.RTSP, Transport: rtsp.TransportUDP, UDPReadBufferSize: udpReadBuffer}
			wg.Go(func() {
				err := c.Run(ctx, func(f rtsp.Frame) {
					r.frames.Add(1)
					r.bytes.Add(int64(len(f.JPEG)))
				})
				if err != nil {
					fmt.Fprintf(os.Stderr, "lsbench farm: reader %d: %v\n", i, err)
				}
			})
		} else if spec.RTSP != "" {
			var c *gortsplib.Client
			c, err = playRTSP(spec.RTSP, r)
			if err == nil {
				wg.Go(func() {
					<-ctx.Done()
					c.Close()
				})
			}
		} else {
			var conn *net.UDPConn
			conn, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(spec.Host), Port: spec.Port + i})
			if err == nil {
				_ = conn.SetReadBuffer(udpReadBuffer)
				wg.Go(func() { readUDP(conn, r) })
				wg.Go(func() {
					<-ctx.Done()
					conn.Close()
				})
			}
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "lsbench farm: reader %d: %v\n", i, err)
			return 1
		}
	}
	fmt.Println("ready")
	last := make([]int64, len(readers))
	var lastInc, lastBytes int64
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() != "mark" {
			continue
		}
		var c farmCounts
		var inc, by int64
		for i, r := range readers {
			f := r.frames.Load()
			c.Frames = append(c.Frames, f-last[i])
			last[i] = f
			inc += r.incomplete.Load()
			by += r.bytes.Load()
		}
		c.Incomplete, c.Bytes = inc-lastInc, by-lastBytes
		lastInc, lastBytes = inc, by
		b, _ := json.Marshal(c)
		fmt.Println(string(b))
	}
	cancel()
	wg.Wait()
	if spec.Record {
		recMu.Lock()
		defer recMu.Unlock()
		for _, a := range rec {
			if seq, ok := stripSeq(a.jpeg); ok {
				fmt.Println(seq, a.at.UnixNano())
			}
		}
	}
	return 0
}

// stripSeq decodes a picture and reads the frame number from the test
// pattern's strip.
func stripSeq(j []byte) (uint32, bool) {
	img, err := jpeg.Decode(bytes.NewReader(j))
	if err != nil {
		return 0, false
	}
	y, ok := img.(*image.YCbCr)
	if !ok {
		return 0, false
	}
	w, h := y.Rect.Dx(), y.Rect.Dy()
	cy, _ := pattern.StripRows(h)
	return pattern.ReadStrip(y.Y, w, y.YStride, cy)
}

// readUDP feeds one socket's RTP packets to r until the socket closes.
func readUDP(conn *net.UDPConn, r *farmReader) {
	buf := make([]byte, 2048)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return
		}
		// The decoder keeps the payloads of a picture's fragments until it
		// completes, so each packet needs its own memory, as gortsplib's
		// client gives it.
		var pkt rtp.Packet
		if pkt.Unmarshal(append([]byte(nil), buf[:n]...)) == nil {
			r.push(&pkt)
		}
	}
}

// playPlain sets up one RTSP session playing url to host:port (RTP) and
// port+1 (RTCP, bound and never read: a few sender reports) over a plain
// connection, and returns the RTP socket and the connection, which must
// stay open for the session to stay.
func playPlain(url, host string, port int) (*net.UDPConn, net.Conn, error) {
	u, err := base.ParseURL(url)
	if err != nil {
		return nil, nil, err
	}
	rtpC, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(host), Port: port})
	if err != nil {
		return nil, nil, err
	}
	_ = rtpC.SetReadBuffer(udpReadBuffer)
	rtcpC, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(host), Port: port + 1})
	if err != nil {
		rtpC.Close()
		return nil, nil, err
	}
	c, err := net.DialTimeout("tcp", u.Host, 10*time.Second)
	if err != nil {
		rtpC.Close()
		rtcpC.Close()
		return nil, nil, err
	}
	fail := func(err error) (*net.UDPConn, net.Conn, error) {
		rtpC.Close()
		rtcpC.Close()
		c.Close()
		return nil, nil, err
	}
	// The RTCP socket lives as long as the connection.
	conn := &closeBoth{Conn: c, also: rtcpC}
	br := bufio.NewReader(c)
	cseq := 0
	do := func(m base.Method, u *base.URL, h base.Header) (*base.Response, error) {
		cseq++
		h["CSeq"] = base.HeaderValue{strconv.Itoa(cseq)}
		b, err := (&base.Request{Method: m, URL: u, Header: h}).Marshal()
		if err != nil {
			return nil, err
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		defer c.SetDeadline(time.Time{})
		if _, err := c.Write(b); err != nil {
			return nil, err
		}
		var res base.Response
		if err := res.Unmarshal(br); err != nil {
			return nil, err
		}
		if res.StatusCode != base.StatusOK {
			return nil, fmt.Errorf("%s %s: %d", m, u, res.StatusCode)
		}
		return &res, nil
	}
	res, err := do(base.Describe, u, base.Header{"Accept": {"application/sdp"}})
	if err != nil {
		return fail(err)
	}
	var desc description.Session
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(res.Body); err != nil {
		return fail(fmt.Errorf("describe %s: %w", url, err))
	}
	if err := desc.Unmarshal(&sd); err != nil || len(desc.Medias) == 0 {
		return fail(fmt.Errorf("describe %s: no media (%v)", url, err))
	}
	mu, err := desc.Medias[0].URL(u)
	if err != nil {
		return fail(err)
	}
	res, err = do(base.Setup, mu, base.Header{"Transport": {fmt.Sprintf("RTP/AVP;unicast;client_port=%d-%d", port, port+1)}})
	if err != nil {
		return fail(err)
	}
	if len(res.Header["Session"]) == 0 {
		return fail(fmt.Errorf("setup %s: no session", url))
	}
	session, _, _ := strings.Cut(res.Header["Session"][0], ";")
	if _, err := do(base.Play, u, base.Header{"Session": {session}, "Range": {"npt=0-"}}); err != nil {
		return fail(err)
	}
	return rtpC, conn, nil
}

// closeBoth is a connection that closes another thing with it.
type closeBoth struct {
	net.Conn
	also io.Closer
}

func (c *closeBoth) Close() error {
	c.also.Close()
	return c.Conn.Close()
}

// playRTSP starts a gortsplib client playing url over UDP into r.
func playRTSP(url string, r *farmReader) (*gortsplib.Client, error) {
	u, err := base.ParseURL(url)
	if err != nil {
		return nil, err
	}
	udp := gortsplib.ProtocolUDP
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &udp, UDPReadBufferSize: udpReadBuffer}
	if err := c.Start(); err != nil {
		return nil, err
	}
	desc, _, err := c.Describe(u)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("describe %s: %w", url, err)
	}
	var forma *format.MJPEG
	medi := desc.FindFormat(&forma)
	if medi == nil {
		c.Close()
		return nil, errors.New("no M-JPEG in " + url)
	}
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		c.Close()
		return nil, fmt.Errorf("setup %s: %w", url, err)
	}
	c.OnPacketRTP(medi, forma, r.push)
	if _, err := c.Play(nil); err != nil {
		c.Close()
		return nil, fmt.Errorf("play %s: %w", url, err)
	}
	return c, nil
}

// parseRecord reads a "seq unixnano" line of a recording farm.
func parseRecord(line string) (seq uint32, at time.Time, ok bool) {
	var s uint64
	var ns int64
	if _, err := fmt.Sscan(line, &s, &ns); err != nil {
		return 0, time.Time{}, false
	}
	return uint32(s), time.Unix(0, ns), true
}
