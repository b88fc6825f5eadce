package store

import (
	"path/filepath"
	"testing"
	"time"
)

func open(t *testing.T, dir string, keep Retention) *Store {
	t.Helper()
	s, err := Open(filepath.Join(dir, "chat.db"), keep)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func chat(text string) *Record { return &Record{Kind: KindChat, From: "a", Role: "viewer", Text: text} }

func TestRetentionByCount(t *testing.T) {
	s := open(t, t.TempDir(), Retention{MaxCount: 5})
	for i := range 12 {
		if _, err := s.Append([]*Record{chat(string(rune('a' + i)))}); err != nil {
			t.Fatal(err)
		}
	}
	recs, _ := s.History(0, 100)
	if len(recs) != 5 || recs[0].Text != "h" || recs[4].Text != "l" {
		t.Fatalf("kept %+v", recs)
	}
}

func TestPagingAndSince(t *testing.T) {
	s := open(t, t.TempDir(), Retention{})
	var recs []*Record
	for i := range 10 {
		recs = append(recs, chat(string(rune('a'+i))))
	}
	if _, err := s.Append(recs); err != nil {
		t.Fatal(err)
	}
	page, more, _ := s.Before(8, 3)
	if len(page) != 3 || page[0].ID != 5 || page[2].ID != 7 || !more {
		t.Fatalf("before 8: %+v more=%v", page, more)
	}
	page, more, _ = s.Before(3, 10)
	if len(page) != 2 || more {
		t.Fatalf("before 3: %+v more=%v", page, more)
	}
	after, _ := s.History(7, 10)
	if len(after) != 3 || after[0].ID != 8 {
		t.Fatalf("since 7: %+v", after)
	}
}

func TestAnnouncementsSurviveRetentionAndReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(filepath.Join(dir, "chat.db"), Retention{MaxCount: 2})
	if err != nil {
		t.Fatal(err)
	}
	s.Append([]*Record{{Kind: KindAnnouncement, Op: OpPost, From: "host", Text: "keep me"}})
	for range 5 {
		s.Append([]*Record{chat("x")})
	}
	edit := &Record{Kind: KindAnnouncement, Op: OpEdit, Target: 99, Text: "nope"}
	s.Append([]*Record{edit})
	if edit.Err != ErrNotFound {
		t.Fatalf("edit of a missing announcement: %v", edit.Err)
	}
	s.Close()
	s = open(t, dir, Retention{MaxCount: 2})
	if a := s.Announcements(); len(a) != 1 || a[0].Text != "keep me" {
		t.Fatalf("announcements after reopen: %+v", a)
	}
}

// TestSeedOnlyWhenEmpty: announcements carried over from before the store
// are posted once; a store that has its own keeps them.
func TestSeedOnlyWhenEmpty(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(filepath.Join(dir, "chat.db"), Retention{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Seed([]Announcement{{ID: 7, Text: "from the backup", From: "teacher"}}); err != nil {
		t.Fatal(err)
	}
	if a := s.Announcements(); len(a) != 1 || a[0].Text != "from the backup" || a[0].From != "teacher" {
		t.Fatalf("seeded %+v", a)
	}
	s.Close()
	s = open(t, dir, Retention{})
	if err := s.Seed([]Announcement{{ID: 1, Text: "again", From: "teacher"}}); err != nil {
		t.Fatal(err)
	}
	if a := s.Announcements(); len(a) != 1 || a[0].Text != "from the backup" {
		t.Fatalf("seed of a store with announcements changed them: %+v", a)
	}
}

func TestAgeRetention(t *testing.T) {
	s := open(t, t.TempDir(), Retention{MaxAge: 50 * time.Millisecond})
	s.Append([]*Record{chat("old")})
	time.Sleep(80 * time.Millisecond)
	s.Append([]*Record{chat("new")})
	recs, _ := s.History(0, 10)
	if len(recs) != 1 || recs[0].Text != "new" {
		t.Fatalf("kept %+v", recs)
	}
}
