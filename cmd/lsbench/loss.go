package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strings"
	"time"
)

// netPair is two network namespaces joined by a veth pair: the sender in
// a, the readers in b, where nftables drops a share of incoming UDP.
type netPair struct {
	a, b     string
	ipA, ipB string
}

func run1(argv ...string) error {
	b, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(b)))
	}
	return nil
}

// newNetPair creates the namespaces, named after our pid so parallel runs
// never meet; remove deletes them.
func newNetPair() (*netPair, error) {
	pid := os.Getpid()
	n := &netPair{a: fmt.Sprintf("lsbench-%d-a", pid), b: fmt.Sprintf("lsbench-%d-b", pid),
		ipA: fmt.Sprintf("10.213.%d.1", pid%250), ipB: fmt.Sprintf("10.213.%d.2", pid%250)}
	va, vb := fmt.Sprintf("lsbva%d", pid), fmt.Sprintf("lsbvb%d", pid)
	steps := [][]string{
		{"ip", "netns", "add", n.a},
		{"ip", "netns", "add", n.b},
		{"ip", "link", "add", va, "netns", n.a, "type", "veth", "peer", "name", vb, "netns", n.b},
		{"ip", "-n", n.a, "addr", "add", n.ipA + "/24", "dev", va},
		{"ip", "-n", n.b, "addr", "add", n.ipB + "/24", "dev", vb},
		{"ip", "-n", n.a, "link", "set", va, "up"},
		{"ip", "-n", n.b, "link", "set", vb, "up"},
		{"ip", "-n", n.a, "link", "set", "lo", "up"},
		{"ip", "-n", n.b, "link", "set", "lo", "up"},
		{"ip", "netns", "exec", n.b, "nft", "add table inet lsbench; add chain inet lsbench input { type filter hook input priority 0; policy accept; }"},
	}
	for _, s := range steps {
		if err := run1(s...); err != nil {
			n.remove()
			return nil, err
		}
	}
	return n, nil
}

// setLoss makes b drop pct percent of incoming UDP at random.
func (n *netPair) setLoss(pct float64) error {
	rules := "flush chain inet lsbench input"
	if pct > 0 {
		// numgen in thousandths, so 0.5 % is expressible.
		rules += fmt.Sprintf("; add rule inet lsbench input meta l4proto udp numgen random mod 1000 < %d drop", int(math.Round(pct*10)))
	}
	return run1("ip", "netns", "exec", n.b, "nft", rules)
}

func (n *netPair) remove() {
	_ = exec.Command("ip", "netns", "del", n.a).Run()
	_ = exec.Command("ip", "netns", "del", n.b).Run()
}

// loss runs bench (4): the share of complete 720p30 frames delivered
// through random packet loss, lsbroadcast against GStreamer, both sending
// the same JPEG loop in packets of at most 1400 bytes.
func (e *env) loss(ctx context.Context) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root for network namespaces")
	}
	np, err := newNetPair()
	if err != nil {
		return err
	}
	defer np.remove()
	for rep := range e.reps {
		for _, sys := range []string{ours, gst} {
			if err := e.lossOnce(ctx, np, sys, rep); err != nil && e.failed(ctx, fmt.Errorf("loss %s, rep %d: %w", sys, rep+1, err)) {
				return err
			}
		}
	}
	return nil
}

func (e *env) lossOnce(ctx context.Context, np *netPair, sys string, rep int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := np.setLoss(0); err != nil {
		return err
	}
	var (
		s   *server
		f   *farm
		err error
	)
	if sys == ours {
		if s, err = e.startOurs(ctx, np.a, np.ipA, "gocv:"+e.fan.avi, "1280x720"); err != nil {
			return err
		}
		defer s.p.stop()
		spec := s.farm
		spec.N = 1
		if f, err = startFarm(ctx, np.b, spec); err != nil {
			return err
		}
	} else {
		const port = 5004
		if f, err = startFarm(ctx, np.b, farmSpec{Host: np.ipB, Port: port, N: 1}); err != nil {
			return err
		}
		if s, err = e.startGst(ctx, np.a, np.ipB, port, 1); err != nil {
			f.close()
			return err
		}
		defer s.p.stop()
	}
	defer f.close()
	if err := e.flowing(s, f); err != nil {
		return err
	}
	time.Sleep(e.warmup)
	for _, pct := range e.losses {
		if err := np.setLoss(pct); err != nil {
			return err
		}
		time.Sleep(300 * time.Millisecond)
		if _, err := f.mark(); err != nil {
			return err
		}
		t0 := time.Now()
		time.Sleep(e.measure)
		c, err := f.mark()
		if err != nil {
			return err
		}
		expected := 30 * time.Since(t0).Seconds()
		got := float64(c.Frames[0])
		sm := sample{"delivered": min(1, got/expected), "bytes_frame": float64(c.Bytes) / max(1, got)}
		e.res.add(key{"loss", sys, fmt.Sprint(pct)}, sm)
		e.logf("loss rep %d %s %.1f%%: delivered %.3f", rep+1, sys, pct, sm["delivered"])
	}
	return nil
}
