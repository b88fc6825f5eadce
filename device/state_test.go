package device

import (
	"os"
	"strings"
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
