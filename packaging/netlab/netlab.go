// Package netlab builds the test networks the harnesses and benchmarks run
// in: two network namespaces joined by a veth pair, with random packet loss
// (nftables) on one side and a rate limit (tc tbf) on the other. Nothing
// reaches the machine's own interfaces: the namespaces have no route out.
// It needs root, ip(8), nft(8) and tc(8).
package netlab

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
)

// Pair is two namespaces, A (the broadcaster's side) and B (the viewers'),
// joined by veth: A has IPA, B has IPB, on a /24 of their own.
type Pair struct {
	A, B       string // namespace names
	IPA, IPB   string
	devA, devB string
}

var made atomic.Uint32

// New creates a pair named after prefix, the process and a counter, so
// parallel runs never meet. Remove deletes it; on failure New removes what
// it made.
func New(prefix string) (*Pair, error) {
	pid, k := os.Getpid(), made.Add(1)
	id := fmt.Sprintf("%d%d", pid%100000, k)
	// /24s in 10.200.0.0–10.239.255.0 chosen by pid and counter.
	subnet := fmt.Sprintf("10.%d.%d", 200+int(k)%40, pid%250)
	p := &Pair{A: prefix + id + "a", B: prefix + id + "b", IPA: subnet + ".1", IPB: subnet + ".2",
		devA: "nla" + id, devB: "nlb" + id}
	steps := [][]string{
		{"ip", "netns", "add", p.A},
		{"ip", "netns", "add", p.B},
		{"ip", "link", "add", p.devA, "netns", p.A, "type", "veth", "peer", "name", p.devB, "netns", p.B},
		{"ip", "-n", p.A, "addr", "add", p.IPA + "/24", "dev", p.devA},
		{"ip", "-n", p.B, "addr", "add", p.IPB + "/24", "dev", p.devB},
		// A cuts what it sends into packets before they cross (gso_max_segs
		// 1: the kernel segments every GSO message in software): a veth
		// passes UDP GSO messages on whole, so B's loss would take a
		// sender's 46-packet message at once where a real link loses
		// packets one by one (TestLossIsPerPacket).
		{"ip", "-n", p.A, "link", "set", p.devA, "gso_max_segs", "1"},
		{"ip", "-n", p.A, "link", "set", p.devA, "up", "multicast", "on"},
		{"ip", "-n", p.B, "link", "set", p.devB, "up", "multicast", "on"},
		{"ip", "-n", p.A, "link", "set", "lo", "up"},
		{"ip", "-n", p.B, "link", "set", "lo", "up"},
		{"ip", "-n", p.A, "route", "add", "224.0.0.0/4", "dev", p.devA},
		{"ip", "-n", p.B, "route", "add", "224.0.0.0/4", "dev", p.devB},
		{"ip", "netns", "exec", p.B, "nft", "add table inet netlab; add chain inet netlab input { type filter hook input priority 0; policy accept; }"},
	}
	for _, s := range steps {
		if err := run(s...); err != nil {
			p.Remove()
			return nil, err
		}
	}
	return p, nil
}

// SetLoss makes B drop pct percent of the UDP packets it receives, at
// random, each on its own (in steps of 0.1 %); 0 drops nothing.
func (p *Pair) SetLoss(pct float64) error {
	rules := "flush chain inet netlab input"
	if pct > 0 {
		rules += fmt.Sprintf("; add rule inet netlab input meta l4proto udp numgen random mod 1000 < %d drop", int(math.Round(pct*10)))
	}
	return run("ip", "netns", "exec", p.B, "nft", rules)
}

// SetRate limits what A sends to B to mbit megabits a second with a token
// bucket (tc tbf), queueing at most latencyMS milliseconds: a Wi-Fi link
// shared by every viewer. 0 removes the limit.
func (p *Pair) SetRate(mbit float64, latencyMS int) error {
	_ = run("tc", "-n", p.A, "qdisc", "del", "dev", p.devA, "root")
	if mbit <= 0 {
		return nil
	}
	// A burst of 32 KiB at least: tbf needs rate/HZ, and a frame's
	// packets leave back to back.
	burst := max(32<<10, int(mbit*1e6/8/100))
	return run("tc", "-n", p.A, "qdisc", "add", "dev", p.devA, "root", "tbf",
		"rate", fmt.Sprintf("%dkbit", int(mbit*1000)), "burst", fmt.Sprint(burst), "latency", fmt.Sprintf("%dms", latencyMS))
}

// InA and InB prefix argv to run it in A or B.
func (p *Pair) InA(argv ...string) []string {
	return append([]string{"ip", "netns", "exec", p.A}, argv...)
}
func (p *Pair) InB(argv ...string) []string {
	return append([]string{"ip", "netns", "exec", p.B}, argv...)
}

// Remove deletes both namespaces (and so the veth pair).
func (p *Pair) Remove() {
	_ = exec.Command("ip", "netns", "del", p.A).Run()
	_ = exec.Command("ip", "netns", "del", p.B).Run()
}

func run(argv ...string) error {
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
