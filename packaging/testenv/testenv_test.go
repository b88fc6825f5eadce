package testenv

import (
	"bytes"
	"errors"
	"image"
	"image/jpeg"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
)

const childEnv = "LSB_TESTENV_CHILD"

func TestMain(m *testing.M) {
	Main(m, Children{childEnv: func(v string) int {
		os.Stdout.WriteString("child " + v)
		if v == "spin" {
			for start := time.Now(); time.Since(start) < 300*time.Millisecond; {
			}
		}
		return 7
	}})
}

func TestChildRunsTheRoleAndExitsWithItsStatus(t *testing.T) {
	out, err := Child(childEnv, "hello").Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 || string(out) != "child hello" {
		t.Fatalf("child: %q, %v; want %q and exit 7", out, err, "child hello")
	}
}

func TestFreePortIsFreeAndWaitPortSeesAListener(t *testing.T) {
	p := FreePort(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
	if err := DialWait(addr, 100*time.Millisecond); err == nil {
		t.Fatalf("something listens on the free port %d", p)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("free port %d not free: %v", p, err)
	}
	defer l.Close()
	WaitPort(t, addr, time.Second)
}

func TestFreeUDPRun(t *testing.T) {
	base, err := FreeUDPRun("127.0.0.1", 4)
	if err != nil {
		t.Fatal(err)
	}
	if base%2 != 0 {
		t.Fatalf("base %d is odd", base)
	}
	for p := base; p < base+4; p++ {
		c, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Fatalf("port %d of the run is taken: %v", p, err)
		}
		c.Close()
	}
}

func TestUnavailableSkipsLocallyAndFailsUnderCI(t *testing.T) {
	for _, ci := range []string{"", "true"} {
		t.Run("CI="+ci, func(t *testing.T) {
			// A subprocess, because a failing subtest would fail this test.
			cmd := exec.Command(os.Args[0], "-test.run", "^TestUnavailableProbe$", "-test.v")
			cmd.Env = append(os.Environ(), "CI="+ci, "LSB_TESTENV_PROBE=1")
			out, err := cmd.CombinedOutput()
			failed := err != nil
			if failed != (ci == "true") || !strings.Contains(string(out), "no such tool") {
				t.Fatalf("CI=%q: failed %v, output:\n%s", ci, failed, out)
			}
		})
	}
}

func TestUnavailableProbe(t *testing.T) {
	if os.Getenv("LSB_TESTENV_PROBE") == "" {
		return // only TestUnavailableSkipsLocallyAndFailsUnderCI runs it
	}
	NeedTools(t, "no such tool-lsb")
}

func TestBuildOnceIntoOneDirectory(t *testing.T) {
	a := Build(t, "cmd/lsbench")
	st, err := os.Stat(a[0])
	if err != nil || st.Mode()&0o111 == 0 {
		t.Fatalf("built %s: %v", a[0], err)
	}
	b := Build(t, "cmd/lsbench")
	st2, _ := os.Stat(b[0])
	if b[0] != a[0] || !st2.ModTime().Equal(st.ModTime()) {
		t.Fatalf("built again: %s then %s", a[0], b[0])
	}
}

func TestProcReaders(t *testing.T) {
	if runtime.GOOS != "linux" {
		Unavailable(t, "/proc is Linux's")
	}
	cmd := Child(childEnv, "spin")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	time.Sleep(200 * time.Millisecond)
	pid := cmd.Process.Pid
	cpu, err := CPUTime(pid)
	if err != nil || cpu <= 0 {
		t.Errorf("CPU time of a spinning child: %v, %v", cpu, err)
	}
	rss, err := RSS(pid)
	if err != nil || rss < 1<<20 {
		t.Errorf("RSS of a Go child: %d, %v", rss, err)
	}
	if tree := Tree(os.Getpid()); len(tree) < 2 || tree[0] != os.Getpid() {
		t.Errorf("tree of the test %v: want it and the child", tree)
	}
	if TreeCPUTime(os.Getpid()) < cpu || TreeRSS(os.Getpid()) < rss {
		t.Error("tree totals below one member")
	}
	if _, err := MemoryField(pid, "NoSuchField"); err == nil {
		t.Error("a missing field read without error")
	}
}

func TestH264ServerIsRefusedAsNotJPEG(t *testing.T) {
	addr := H264Server(t)
	u, err := base.ParseURL("rtsp://" + addr + "/live")
	if err != nil {
		t.Fatal(err)
	}
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	desc, _, err := c.Describe(u)
	if err != nil {
		t.Fatal(err)
	}
	var h264 *format.H264
	var mjpeg *format.MJPEG
	if desc.FindFormat(&h264) == nil || desc.FindFormat(&mjpeg) != nil {
		t.Fatalf("described %+v, want H.264 only", desc.Medias)
	}
}

func TestGrayKeepsSizeAndLevels(t *testing.T) {
	src := image.NewGray(image.Rect(0, 0, 16, 8))
	for i := range src.Pix {
		src.Pix[i] = 200
	}
	var jpg bytes.Buffer
	if err := jpeg.Encode(&jpg, src, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	pix, w, h := Gray(t, jpg.Bytes())
	if w != 16 || h != 8 || len(pix) != w*h || pix[0] < 195 || pix[0] > 205 {
		t.Fatalf("%dx%d, %d bytes, first %d; want 16x8 of about 200", w, h, len(pix), pix[0])
	}
}
