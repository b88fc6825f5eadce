package device

import (
	"os"
	"strings"
	"syscall"
	"testing"
)

func TestHostKey(t *testing.T) {
	st, err := OpenState(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	key, created, err := st.HostKey()
	if err != nil || !created || len(key) < 16 {
		t.Fatalf("first start: %q created=%v %v", key, created, err)
	}
	if fi, err := os.Stat(st.Files.HostKey); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("host key file: %v %v", fi, err)
	}
	again, created, err := st.HostKey()
	if err != nil || created || again != key {
		t.Fatalf("second start: %q created=%v %v, want %q", again, created, err, key)
	}
	os.WriteFile(st.Files.HostKey, []byte("short\n"), 0o600)
	if _, _, err := st.HostKey(); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Fatalf("short key: %v", err)
	}
}

// TestHostKeyFailedFirstWrite: a first start whose write fails (the disk
// full: here the file size limit) leaves no host-key file, and the next
// start makes one; an empty file (what an older release left) is made
// anew instead of keeping the service down.
func TestHostKeyFailedFirstWrite(t *testing.T) {
	st, err := OpenState(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	small := lim
	small.Cur = 10 // bytes: the key is 49
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &small); err != nil {
		t.Fatal(err)
	}
	_, _, err = st.HostKey()
	syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim)
	if err == nil {
		t.Fatal("host key written beyond the file size limit")
	}
	ents, _ := os.ReadDir(st.Dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), "host-key") {
			t.Fatalf("a failed write left %s", e.Name())
		}
	}
	key, created, err := st.HostKey()
	if err != nil || !created || len(key) != 48 {
		t.Fatalf("after a failed first write: %q created=%v %v", key, created, err)
	}
	os.WriteFile(st.Files.HostKey, nil, 0o600)
	again, created, err := st.HostKey()
	if err != nil || !created || again == key || len(again) != 48 {
		t.Fatalf("empty host-key file: %q created=%v %v", again, created, err)
	}
}

func TestHostKeyFingerprint(t *testing.T) {
	key := "0123456789abcdef0123456789abcdef0123456789abcdef"
	fp := HostKeyFingerprint(key)
	if len(fp) != 8 || strings.Contains(key, fp) || fp != HostKeyFingerprint(key) || fp == HostKeyFingerprint(key+"x") {
		t.Fatalf("fingerprint %q of %q", fp, key)
	}
}

// TestStateFileNames: the names are those earlier releases wrote; an
// upgrade finds its files under them.
func TestStateFileNames(t *testing.T) {
	f := FilesIn("/var/lib/lsbroadcast")
	for _, c := range []struct{ got, want string }{
		{f.Lock, "/var/lib/lsbroadcast/lock"},
		{f.InstanceID, "/var/lib/lsbroadcast/instance-id"},
		{f.HostKey, "/var/lib/lsbroadcast/host-key"},
		{f.ChatDB, "/var/lib/lsbroadcast/chat.db"},
		{f.Announcements, "/var/lib/lsbroadcast/announcements.json"},
		{f.AnnouncementsBackup, "/var/lib/lsbroadcast/announcements.json.backup"},
	} {
		if c.got != c.want {
			t.Errorf("%s, want %s", c.got, c.want)
		}
	}
}
