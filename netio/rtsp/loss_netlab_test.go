package rtsp

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/packaging/netlab"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// lossReaderEnv is the role of a reader that plays "URL SECONDS
// [TRANSPORT]" (UDP unless named) and prints a lossResult as JSON.
const lossReaderEnv = "LSB_RTSP_LOSS_READER"

// lossResult is what a loss reader saw: its Stats and the latency from
// capture (the server's clock, the same machine's) to the last packet.
type lossResult struct {
	Stats    ClientStats
	P50, P99 time.Duration
	Captured int // frames that carried a capture time
}

func lossReader(spec string) int {
	f := strings.Fields(spec)
	n, _ := strconv.Atoi(f[1])
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(n)*time.Second)
	defer cancel()
	tr := TransportUDP
	if len(f) > 2 {
		var err error
		if tr, err = ParseTransport(f[2]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	c := &Client{URL: f[0], Transport: tr, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var lat []time.Duration
	if err := c.Run(ctx, func(fr Frame) {
		if !fr.Captured.IsZero() && len(lat) < 100000 {
			lat = append(lat, fr.Received.Sub(fr.Captured))
		}
	}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	r := lossResult{Stats: c.Stats(), Captured: len(lat)}
	if len(lat) > 0 {
		slices.Sort(lat)
		r.P50, r.P99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	json.NewEncoder(os.Stdout).Encode(r)
	return 0
}

// TestLossRecoveredLargePictures: at 2 % random loss on the reader's side
// of a veth, pictures of 70 (1280×720) and 100+ (1920×1080) packets come
// whole at least 98 % of the time, over the UDP path's NACKs.
func TestLossRecoveredLargePictures(t *testing.T) {
	net := testenv.NetPair(t)
	const secs = 22 // past the server's second sender report (10 s apart): the loss can take one
	for _, size := range []string{"1280x720", "1920x1080"} {
		t.Run(size, func(t *testing.T) {
			srv := startChildServer(t, net, "thin "+size)
			defer srv.stop()
			picture, _ := strconv.Atoi(srv.ready)
			if err := net.SetLoss(2); err != nil {
				t.Fatal(err)
			}
			defer net.SetLoss(0)
			r := readLoss(t, net, strconv.Itoa(secs))
			srv.stdin.Close()
			if srv.out.Scan() {
				t.Logf("server: %s", srv.out.Text())
			}
			st := r.Stats
			complete := float64(st.Frames) / float64(st.Frames+st.LostFrames)
			t.Logf("%s, %d packets a picture, 2%% loss: %d frames (%.1f/s), %d lost, complete %.3f; %d packets lost; NACKs %d, recovered %d, gave up %d, rtt %v; latency p50 %v p99 %v",
				size, (picture+MaxPacketSize-1)/MaxPacketSize, st.Frames, float64(st.Frames)/secs, st.LostFrames, complete,
				st.LostPackets, st.Recover.NACKs, st.Recover.Recovered, st.Recover.GaveUp, st.Recover.RTT, r.P50, r.P99)
			if complete < 0.98 || float64(st.Frames) < 0.9*30*secs || st.Recover.Recovered == 0 {
				t.Errorf("at 2%% loss: %+v", r)
			}
			if r.Captured == 0 {
				t.Error("no frame carried a capture time")
			}
		})
	}
}

// readLoss runs the lossReaderEnv role in net's namespace B on the child
// server's stream, with args after its URL, and returns what it measured.
func readLoss(t *testing.T, net *netlab.Pair, args string) lossResult {
	t.Helper()
	rd := inNS(net.InB(), lossReaderEnv, fmt.Sprintf("rtsp://%s:%d%s %s", net.IPA, DefaultPort, DefaultPath, args))
	var errb testenv.SyncBuffer
	rd.Stderr = &errb
	out, err := rd.Output()
	if err != nil {
		t.Fatalf("reader: %v: %s", err, errb.String())
	}
	var r lossResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("reader printed %q: %v", out, err)
	}
	return r
}

// TestAutoFallsBackToTCP: with every UDP packet to the reader dropped,
// auto gives the UDP path up after its first-packet wait and plays over
// TCP, as gortsplib's client (and VLC) do.
func TestAutoFallsBackToTCP(t *testing.T) {
	net := testenv.NetPair(t)
	srv := startChildServer(t, net, "full 320x240")
	defer srv.stop()
	// All of it: SetLoss stops at 99.9 %.
	if out, err := exec.Command("ip", "netns", "exec", net.B, "nft", "add rule inet netlab input meta l4proto udp drop").CombinedOutput(); err != nil {
		t.Fatalf("nft: %v: %s", err, out)
	}
	defer net.SetLoss(0)
	const secs = 7
	r := readLoss(t, net, strconv.Itoa(secs)+" auto")
	// 3 s waiting for UDP, then about 4 s of 30 fps over TCP.
	if r.Stats.Transport != "TCP" || r.Stats.Frames < 60 {
		t.Errorf("auto with UDP blocked: %+v", r.Stats)
	}
}
