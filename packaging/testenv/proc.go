package testenv

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// The readers below read Linux's /proc: the figures the benchmarks report
// and the limits some tests assert. Elsewhere they return errors.

// userHZ is the unit of the times in /proc/PID/stat: USER_HZ, 100 on
// every Linux architecture we build for.
const userHZ = 100

// CPUTime is the user+system CPU time pid has used so far.
func CPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name, which is in parentheses and may
	// hold spaces; utime and stime are the 14th and 15th of the line.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 > len(b) {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+2:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after the name", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad utime %q or stime %q", pid, f[11], f[12])
	}
	return time.Duration(ut+st) * time.Second / userHZ, nil
}

// RSS is pid's resident memory in bytes (VmRSS).
func RSS(pid int) (int64, error) { return MemoryField(pid, "VmRSS") }

// MemoryField is a memory field of /proc/PID/status in bytes: VmRSS,
// VmHWM (the peak of VmRSS), VmSize, ….
func MemoryField(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/%d/status: %s: %w", pid, field, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no %s", pid, field)
}

// Tree lists pid and its living descendants (at most 64 processes),
// through /proc/PID/task/*/children: a program's helpers (lsbroadcast's
// OpenCV helper) count as the program's.
func Tree(pid int) []int {
	out := []int{pid}
	for i := 0; i < len(out) && len(out) < 64; i++ {
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", out[i]))
		for _, t := range tasks {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", out[i], t.Name()))
			for _, f := range strings.Fields(string(b)) {
				if c, err := strconv.Atoi(f); err == nil {
					out = append(out, c)
				}
			}
		}
	}
	return out
}

// TreeCPUTime is the CPU time of pid and its living descendants; a
// process that ends while it is read counts nothing.
func TreeCPUTime(pid int) time.Duration {
	var total time.Duration
	for _, p := range Tree(pid) {
		if d, err := CPUTime(p); err == nil {
			total += d
		}
	}
	return total
}

// TreeRSS is the resident memory of pid and its living descendants, in
// bytes.
func TreeRSS(pid int) int64 {
	var total int64
	for _, p := range Tree(pid) {
		if n, err := RSS(p); err == nil {
			total += n
		}
	}
	return total
}

// Written is the bytes pid has passed to write(2) and its kind so far
// (wchar of /proc/PID/io): on loopback, what a server sends over TCP,
// as TCP is written with write(2). Datagrams (sendto, sendmsg) are not in
// it.
func Written(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "wchar:"); ok {
			return strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/io: no wchar", pid)
}
