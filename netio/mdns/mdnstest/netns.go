// Package mdnstest builds the small networks that discovery tests need: a
// "pi" and a "laptop" network namespace joined by a veth pair that has no
// address in the machine's own namespace, so multicast never leaves the
// test. It also runs avahi-daemon (with its own D-Bus) inside a namespace.
package mdnstest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// Pair is two namespaces joined by a veth pair.
type Pair struct {
	Pi, Laptop         string // namespace names
	PiIf, LaptopIf     string // their ends of the veth pair
	PiAddr, LaptopAddr string // IPv4 addresses, without prefix length
}

var seq atomic.Int32

// NewPair creates the namespaces and removes them when the test ends,
// whether it passes or not. A test that cannot have them stops (see
// testenv.Unavailable).
func NewPair(t testing.TB) *Pair {
	t.Helper()
	testenv.NeedRoot(t, "network namespaces")
	testenv.NeedTools(t, "ip")
	n := seq.Add(1)
	id := fmt.Sprintf("%d-%d", os.Getpid(), n)
	// Interface names are at most 15 bytes; the pid keeps them unique.
	short := fmt.Sprintf("%d%d", os.Getpid()%1000000, n)
	subnet := fmt.Sprintf("10.%d.%d", 100+os.Getpid()%100, n%250)
	p := &Pair{
		Pi: "lsv-pi-" + id, Laptop: "lsv-laptop-" + id,
		PiIf: "vp" + short, LaptopIf: "vl" + short,
		PiAddr: subnet + ".1", LaptopAddr: subnet + ".2",
	}
	t.Cleanup(func() {
		// Deleting a namespace deletes the veth end inside it, and so the pair.
		for _, ns := range []string{p.Pi, p.Laptop} {
			exec.Command("ip", "netns", "del", ns).Run()
		}
	})
	steps := [][]string{
		{"netns", "add", p.Pi},
		{"netns", "add", p.Laptop},
		{"link", "add", p.PiIf, "type", "veth", "peer", "name", p.LaptopIf},
		{"link", "set", p.PiIf, "netns", p.Pi},
		{"link", "set", p.LaptopIf, "netns", p.Laptop},
	}
	for _, end := range []struct{ ns, ifc, addr string }{{p.Pi, p.PiIf, p.PiAddr}, {p.Laptop, p.LaptopIf, p.LaptopAddr}} {
		steps = append(steps,
			[]string{"-n", end.ns, "link", "set", "lo", "up"},
			[]string{"-n", end.ns, "addr", "add", end.addr + "/24", "dev", end.ifc},
			[]string{"-n", end.ns, "link", "set", end.ifc, "up", "multicast", "on"},
			[]string{"-n", end.ns, "route", "add", "224.0.0.0/4", "dev", end.ifc},
		)
	}
	for _, s := range steps {
		if out, err := exec.Command("ip", s...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(s, " "), err, out)
		}
	}
	// A fresh veth takes a moment to leave IPv6 duplicate address
	// detection; zeroconf joins IPv6 groups, so wait for link-local
	// addresses (bounded: 5 s).
	for _, end := range []struct{ ns, ifc string }{{p.Pi, p.PiIf}, {p.Laptop, p.LaptopIf}} {
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			out, _ := exec.Command("ip", "-n", end.ns, "-6", "addr", "show", "dev", end.ifc).Output()
			if bytes.Contains(out, []byte("fe80")) && !bytes.Contains(out, []byte("tentative")) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return p
}

// Command runs name in namespace ns; it is killed when ctx ends.
func Command(ctx context.Context, ns, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// Avahi is an avahi-daemon running in a namespace with a private D-Bus.
type Avahi struct {
	NS  string
	Env []string // DBUS_SYSTEM_BUS_ADDRESS for avahi-browse/avahi-publish
}

// StartAvahi runs dbus-daemon and avahi-daemon in ns, on interface ifc
// only, until the test ends.
func StartAvahi(t testing.TB, ns, ifc string) *Avahi {
	t.Helper()
	testenv.NeedRoot(t, "network namespaces")
	testenv.NeedTools(t, "ip", "avahi-daemon", "dbus-daemon", "avahi-browse", "avahi-publish")
	dir := t.TempDir()
	bus := filepath.Join(dir, "bus")
	busConf := filepath.Join(dir, "dbus.conf")
	// The machine's system bus may not exist in a container, and must not
	// be shared anyway: each test avahi gets its own bus that lets root do
	// anything.
	writeFile(t, busConf, `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=`+bus+`</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
`)
	avahiConf := filepath.Join(dir, "avahi.conf")
	writeFile(t, avahiConf, `[server]
use-ipv4=yes
use-ipv6=no
allow-interfaces=`+ifc+`
enable-dbus=yes
[wide-area]
enable-wide-area=no
[publish]
publish-workstation=no
publish-hinfo=no
[reflector]
[rlimits]
`)
	a := &Avahi{NS: ns, Env: append(os.Environ(), "DBUS_SYSTEM_BUS_ADDRESS=unix:path="+bus)}
	ctx, cancel := context.WithCancel(context.Background())
	dbus := Command(ctx, ns, "dbus-daemon", "--config-file="+busConf, "--nofork", "--nopidfile")
	var dbusLog, avahiLog testenv.SyncBuffer
	dbus.Stdout, dbus.Stderr = &dbusLog, &dbusLog
	if err := dbus.Start(); err != nil {
		cancel()
		t.Fatalf("dbus-daemon: %v", err)
	}
	var avahi *exec.Cmd
	t.Cleanup(func() {
		cancel()
		if avahi != nil {
			avahi.Wait()
		}
		dbus.Wait()
		if t.Failed() {
			t.Logf("dbus-daemon: %s\navahi-daemon: %s", dbusLog.String(), avahiLog.String())
		}
	})
	waitFor(t, 5*time.Second, "the test D-Bus socket", func() bool { _, err := os.Stat(bus); return err == nil })
	avahi = Command(ctx, ns, "avahi-daemon", "-f", avahiConf, "--no-chroot", "--no-drop-root", "--no-rlimits", "--no-proc-title")
	avahi.Env = a.Env
	avahi.Stdout, avahi.Stderr = &avahiLog, &avahiLog
	if err := avahi.Start(); err != nil {
		t.Fatalf("avahi-daemon: %v", err)
	}
	waitFor(t, 10*time.Second, "avahi-daemon to start", func() bool {
		return strings.Contains(avahiLog.String(), "Server startup complete")
	})
	return a
}

// Command runs an avahi tool in the namespace, talking to this daemon.
func (a *Avahi) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	c := Command(ctx, a.NS, name, args...)
	c.Env = a.Env
	return c
}

func writeFile(t testing.TB, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond every 20 ms until it holds, failing after d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
