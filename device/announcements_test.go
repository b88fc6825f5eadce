package device

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio"
	"github.com/lsbroadcast/lsbroadcast/netio/chat"
	"github.com/lsbroadcast/lsbroadcast/netio/chat/store"
)

func testAnnouncementsFile(t *testing.T) announcementsFile {
	files := FilesIn(t.TempDir())
	return announcementsFile{path: files.Announcements, backup: files.AnnouncementsBackup}
}

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "chat.db"), store.Retention{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestAnnouncementsFileKeepsBackup: each write leaves the new list in the
// file and the one before in the backup, and no temporary file behind.
func TestAnnouncementsFileKeepsBackup(t *testing.T) {
	f := testAnnouncementsFile(t)
	for _, text := range []string{"Exam on Friday", "Exam on Monday"} {
		if err := f.write([]store.Announcement{{ID: 1, Text: text, From: "teacher"}}); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := os.ReadFile(f.path); err != nil || !strings.Contains(string(b), "Exam on Monday") {
		t.Fatalf("announcements.json: %s %v", b, err)
	}
	if b, err := os.ReadFile(f.backup); err != nil || !strings.Contains(string(b), "Exam on Friday") {
		t.Fatalf("announcements.json.backup: %s %v", b, err)
	}
	var list []store.Announcement
	if b, _ := os.ReadFile(f.path); json.Unmarshal(b, &list) != nil || len(list) != 1 || list[0].From != "teacher" {
		t.Fatalf("announcements.json does not read back: %+v", list)
	}
	if fi, _ := os.Stat(f.path); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", fi.Mode().Perm())
	}
	if ents, _ := os.ReadDir(filepath.Dir(f.path)); len(ents) != 2 {
		t.Fatalf("files left beside the export: %v", ents)
	}
}

// TestImportFromOriginalApp: a torn announcements.json gives way to its
// backup.
func TestImportFromOriginalApp(t *testing.T) {
	f := testAnnouncementsFile(t)
	os.WriteFile(f.path, []byte("{torn"), 0o644)
	os.WriteFile(f.backup, []byte(`[{"id":1,"text":"from the backup","from":"teacher","posted":"2024-01-01T00:00:00Z"}]`), 0o644)
	st := openStore(t)
	if err := f.seed(st); err != nil {
		t.Fatal(err)
	}
	if a := st.Announcements(); len(a) != 1 || a[0].Text != "from the backup" {
		t.Fatalf("imported %+v", a)
	}
}

func TestImportOnlyIntoAnEmptyStore(t *testing.T) {
	f := testAnnouncementsFile(t)
	st := openStore(t)
	if err := f.seed(st); err != nil {
		t.Fatalf("no file: %v", err)
	}
	if a := st.Announcements(); len(a) != 0 {
		t.Fatalf("imported %+v from no file", a)
	}
	if _, err := st.Append([]*store.Record{{Kind: store.KindAnnouncement, Op: store.OpPost, From: "teacher", Role: "host", Text: "in the store"}}); err != nil {
		t.Fatal(err)
	}
	// The store's own announcements win; the file is not even read.
	os.WriteFile(f.path, []byte("{torn"), 0o644)
	if err := f.seed(st); err != nil {
		t.Fatalf("seed of a store with announcements: %v", err)
	}
	if a := st.Announcements(); len(a) != 1 || a[0].Text != "in the store" {
		t.Fatalf("announcements %+v", a)
	}
}

func TestImportBothDamaged(t *testing.T) {
	f := testAnnouncementsFile(t)
	os.WriteFile(f.path, []byte("{torn"), 0o644)
	os.WriteFile(f.backup, []byte("[{"), 0o644)
	if err := f.seed(openStore(t)); err == nil || !strings.Contains(err.Error(), "announcements.json.backup") {
		t.Fatalf("both files damaged: %v", err)
	}
}

// TestChatKeepsAnnouncementsFile: the chat the broadcaster opens imports
// announcements.json at its first start and rewrites it before it
// acknowledges an announcement.
func TestChatKeepsAnnouncementsFile(t *testing.T) {
	st, err := OpenState(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	os.WriteFile(st.Files.Announcements, []byte(`[{"id":3,"text":"from the original app","from":"teacher","posted":"2024-01-01T00:00:00Z"}]`), 0o644)
	b := &Broadcaster{cfg: &Config{Listen: "127.0.0.1"}, state: st, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	srv, closeStore, err := b.openChat()
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore()
	srv.HostKey = "0123456789abcdef0123456789abcdef"
	srv.Info = func() netio.Stream { return netio.Stream{Name: "test"} } // no RTSP server here
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(ctx)
	}()
	defer func() {
		cancel()
		<-served
	}()
	host, w, err := chat.Dial(ctx, srv.ListenAddr().String(), chat.Hello{Name: "teacher", HostKey: srv.HostKey})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	if len(w.Announcements) != 1 || w.Announcements[0].Text != "from the original app" {
		t.Fatalf("welcome's announcements %+v", w.Announcements)
	}
	host.Announce(store.OpPost, 0, "Exam on Friday")
	for m := range host.Events() {
		if m.Type == chat.TypeAck {
			break
		}
	}
	b2, err := os.ReadFile(st.Files.Announcements)
	if err != nil || !strings.Contains(string(b2), "from the original app") || !strings.Contains(string(b2), "Exam on Friday") {
		t.Fatalf("announcements.json after the ack: %s %v", b2, err)
	}
}
