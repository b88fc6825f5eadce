//go:build vmtest

package vm

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// machine is a booted VM whose console the test types into and reads.
type machine struct {
	t     testing.TB
	arch  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	port  int // host port forwarded to the guest's RTSP port 8554
	// chatPort is the host port forwarded to the guest's chat port 4000.
	chatPort int
	done     chan struct{} // closed when qemu exits
	mu       sync.Mutex
	lines    []string      // console output so far, line by line
	read     int           // lines before this one were read by sh or expect
	boot     time.Duration // from starting qemu to @@READY
}

// qemuArgs are the machine, kernel and console for arch.
func qemuArgs(arch, dir string) (string, []string, error) {
	kernels, _ := filepath.Glob(filepath.Join(dir, arch, "kernel", "boot", "vmlinuz-*"))
	if len(kernels) != 1 {
		return "", nil, fmt.Errorf("no kernel under %s (run packaging/vm/fetch.sh)", filepath.Join(dir, arch))
	}
	initrd := filepath.Join(dir, arch, "initramfs.cpio")
	switch arch {
	case "amd64":
		return "qemu-system-x86_64", []string{"-kernel", kernels[0], "-initrd", initrd,
			"-append", "console=ttyS0 quiet panic=-1", "-nic"}, nil
	case "arm64":
		return "qemu-system-aarch64", []string{"-M", "virt", "-cpu", "cortex-a72", "-kernel", kernels[0], "-initrd", initrd,
			"-append", "console=ttyAMA0 quiet panic=-1", "-nic"}, nil
	}
	return "", nil, fmt.Errorf("unknown architecture %q", arch)
}

// boot starts the VM and waits for its init to say @@READY. KVM guests
// hang on this workplace's machines, so qemu emulates (TCG). The network
// is qemu's user network: the guest reaches nothing, the host reaches
// the guest's RTSP and chat ports through 127.0.0.1 only.
func boot(t testing.TB, arch string) *machine {
	dir := os.Getenv("VM_DIR")
	if dir == "" {
		t.Fatal("VM_DIR is not set: run make vmtest")
	}
	bin, args, err := qemuArgs(arch, dir)
	if err != nil {
		t.Fatal(err)
	}
	m := &machine{t: t, arch: arch, port: testenv.FreePort(t), chatPort: testenv.FreePort(t), done: make(chan struct{})}
	args = append(args, fmt.Sprintf("user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:%d-:8554,hostfwd=tcp:127.0.0.1:%d-:4000", m.port, m.chatPort))
	args = append(args, "-accel", "tcg", "-m", "1024", "-smp", "2", "-nographic", "-no-reboot", "-nodefaults",
		"-serial", "stdio", "-monitor", "none")
	m.cmd = exec.Command(bin, args...)
	m.stdin, err = m.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	m.cmd.Stderr = m.cmd.Stdout
	start := time.Now()
	if err := m.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", bin, err)
	}
	go func() {
		defer close(m.done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			m.mu.Lock()
			m.lines = append(m.lines, strings.TrimRight(sc.Text(), "\r"))
			m.mu.Unlock()
		}
		m.cmd.Wait()
	}()
	t.Cleanup(func() {
		m.stdin.Close()
		m.cmd.Process.Kill()
		<-m.done
		if t.Failed() {
			m.mu.Lock()
			t.Logf("%s console:\n%s", arch, strings.Join(m.lines, "\n"))
			m.mu.Unlock()
		}
	})
	if _, err := m.expect("@@READY", 180*time.Second); err != nil {
		t.Fatalf("%s did not boot: %v", arch, err)
	}
	m.boot = time.Since(start)
	return m
}

// next returns the next console line not yet read, waiting for it until
// deadline; ok is false at the deadline or when qemu exited.
func (m *machine) next(deadline time.Time) (line string, ok bool) {
	for {
		m.mu.Lock()
		if m.read < len(m.lines) {
			line = m.lines[m.read]
			m.read++
			m.mu.Unlock()
			return line, true
		}
		m.mu.Unlock()
		select {
		case <-m.done:
			return "", false
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return "", false
		}
	}
}

// mark is a place in the console output to search from.
func (m *machine) mark() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.lines)
}

// expect waits for a console line containing marker and returns it.
func (m *machine) expect(marker string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		line, ok := m.next(deadline)
		if !ok {
			return "", fmt.Errorf("no %q within %v", marker, timeout)
		}
		if strings.Contains(line, marker) {
			return line, nil
		}
	}
}

// since returns the first line from mark on that contains marker, waiting
// for it until timeout; lines already read by sh count too.
func (m *machine) since(mark int, marker string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		m.mu.Lock()
		for _, l := range m.lines[mark:] {
			if strings.Contains(l, marker) {
				m.mu.Unlock()
				return l, nil
			}
		}
		m.mu.Unlock()
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no %q within %v", marker, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sh runs a shell command in the guest and returns its output lines and
// exit status. The marker is quoted apart so the console's echo of the
// command never matches it.
func (m *machine) sh(cmd string, timeout time.Duration) ([]string, int) {
	m.t.Helper()
	m.mu.Lock()
	m.read = len(m.lines)
	m.mu.Unlock()
	fmt.Fprintf(m.stdin, "%s; echo \"@@\"\"DONE $?\"\n", cmd)
	var out []string
	deadline := time.Now().Add(timeout)
	for {
		line, ok := m.next(deadline)
		if !ok {
			m.t.Fatalf("%q did not finish within %v; output so far:\n%s", cmd, timeout, strings.Join(out, "\n"))
		}
		if i := strings.Index(line, "@@DONE "); i >= 0 {
			rc, err := strconv.Atoi(strings.TrimSpace(line[i+len("@@DONE "):]))
			if err != nil {
				rc = -1
			}
			return out, rc
		}
		out = append(out, line)
	}
}

// start runs cmd in the guest's background and returns its pid.
func (m *machine) start(cmd string) int {
	m.t.Helper()
	out, rc := m.sh(cmd+" & echo \"@@\"\"PID $!\"", 10*time.Second)
	for _, l := range out {
		if i := strings.Index(l, "@@PID "); i >= 0 && rc == 0 {
			if pid, err := strconv.Atoi(strings.TrimSpace(l[i+6:])); err == nil {
				return pid
			}
		}
	}
	m.t.Fatalf("%q did not start: status %d, output %q", cmd, rc, out)
	return 0
}
