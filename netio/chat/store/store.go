// Package store keeps the chat's history and announcements in one database
// file, crash-safe: bbolt commits each batch with fsync before the chat
// service acknowledges it, so an acknowledged message survives kill -9 and
// power loss. Where the file lives, and any export of the announcements,
// is for whoever runs the chat to decide.
package store

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Kinds of record.
const (
	KindChat         = "chat"
	KindAnnouncement = "announcement"
)

// Announcement operations.
const (
	OpPost   = "post"
	OpEdit   = "edit"
	OpDelete = "delete"
)

// ErrNotFound is set on an edit or delete of an announcement that does not
// exist.
var ErrNotFound = errors.New("no such announcement")

// Record is one entry of the log: a chat message or an announcement
// operation.
type Record struct {
	ID     uint64    `json:"id"`
	Time   time.Time `json:"ts"`
	Kind   string    `json:"kind"`
	Op     string    `json:"op,omitempty"`     // announcements
	Target uint64    `json:"target,omitempty"` // the announcement an edit or delete changes
	From   string    `json:"from"`
	Role   string    `json:"role"`
	Text   string    `json:"text,omitempty"`
	// Err is set by Append on a record it refused (nothing stored).
	Err error `json:"-"`
}

// Announcement is one announcement as it stands now.
type Announcement struct {
	ID     uint64     `json:"id"`
	Text   string     `json:"text"`
	From   string     `json:"from"`
	Posted time.Time  `json:"posted"`
	Edited *time.Time `json:"edited,omitempty"`
}

// Retention bounds the chat log; zero values mean no bound. Current
// announcements are kept whatever their age.
type Retention struct {
	MaxCount int
	MaxAge   time.Duration
}

// Store is an open database. Append, History and Before are safe for
// concurrent use.
type Store struct {
	db    *bolt.DB
	keep  Retention
	mu    sync.Mutex // guards count and ann
	count int
	ann   map[uint64]Announcement
}

var (
	bucketLog = []byte("log")
	bucketAnn = []byte("announcements")
)

// Open opens (or creates) the database file at path.
func Open(path string, keep Retention) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("chat store %s: %w", path, err)
	}
	s := &Store{db: db, keep: keep, ann: map[uint64]Announcement{}}
	err = db.Update(func(tx *bolt.Tx) error {
		logB, err := tx.CreateBucketIfNotExists(bucketLog)
		if err != nil {
			return err
		}
		annB, err := tx.CreateBucketIfNotExists(bucketAnn)
		if err != nil {
			return err
		}
		s.count = logB.Stats().KeyN
		return annB.ForEach(func(k, v []byte) error {
			var a Announcement
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("announcement %x: %w", k, err)
			}
			s.ann[a.ID] = a
			return nil
		})
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("chat store %s: %w", path, err)
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

func key(id uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], id)
	return k[:]
}

// Append stores recs in one transaction, assigning IDs and times, and
// returns once it is on disk. Announcement edits and deletes of missing
// announcements get Err = ErrNotFound and are not stored. It reports
// whether the announcements changed.
func (s *Store) Append(recs []*Record) (annChanged bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.append(recs)
}

// append is Append with s.mu held.
func (s *Store) append(recs []*Record) (annChanged bool, err error) {
	ann := maps.Clone(s.ann)
	count := s.count
	err = s.db.Update(func(tx *bolt.Tx) error {
		logB, annB := tx.Bucket(bucketLog), tx.Bucket(bucketAnn)
		now := time.Now().UTC()
		annChanged = false
		for _, r := range recs {
			r.Err = nil
			if r.Kind == KindAnnouncement && r.Op != OpPost {
				if _, ok := ann[r.Target]; !ok {
					r.Err = ErrNotFound
					continue
				}
			}
			id, err := logB.NextSequence()
			if err != nil {
				return err
			}
			r.ID, r.Time = id, now
			v, err := json.Marshal(r)
			if err != nil {
				return err
			}
			if err := logB.Put(key(id), v); err != nil {
				return err
			}
			count++
			if r.Kind != KindAnnouncement {
				continue
			}
			annChanged = true
			switch r.Op {
			case OpPost:
				ann[id] = Announcement{ID: id, Text: r.Text, From: r.From, Posted: now}
			case OpEdit:
				a := ann[r.Target]
				a.Text, a.Edited = r.Text, &now
				ann[r.Target] = a
			case OpDelete:
				delete(ann, r.Target)
				if err := annB.Delete(key(r.Target)); err != nil {
					return err
				}
				continue
			}
			target := id
			if r.Op == OpEdit {
				target = r.Target
			}
			av, _ := json.Marshal(ann[target])
			if err := annB.Put(key(target), av); err != nil {
				return err
			}
		}
		count -= s.prune(logB, count, now)
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("chat store: %w", err)
	}
	s.ann, s.count = ann, count
	return annChanged, nil
}

// prune drops the oldest chat records beyond the retention bounds.
func (s *Store) prune(logB *bolt.Bucket, count int, now time.Time) int {
	dropped := 0
	c := logB.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		over := s.keep.MaxCount > 0 && count-dropped > s.keep.MaxCount
		var r Record
		old := s.keep.MaxAge > 0 && json.Unmarshal(v, &r) == nil && now.Sub(r.Time) > s.keep.MaxAge
		if !over && !old {
			break
		}
		if err := c.Delete(); err != nil {
			break
		}
		dropped++
	}
	return dropped
}

// History returns the newest limit records, oldest first; with since > 0,
// only those after since (none when since is the newest id or beyond).
// A client that has since gets what is closest to now, so nothing is
// missing between this and what it receives live; older ones it can page
// back to with Before.
func (s *Store) History(since uint64, limit int) ([]Record, error) {
	var out []Record
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketLog).Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit && binary.BigEndian.Uint64(k) > since; k, v = c.Prev() {
			var r Record
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			out = append(out, r)
		}
		slices.Reverse(out)
		return nil
	})
	return out, err
}

// Before returns up to limit records older than id, oldest first, and
// whether there are older ones still.
func (s *Store) Before(id uint64, limit int) (recs []Record, more bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketLog).Cursor()
		k, v := c.Seek(key(id))
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		for ; k != nil; k, v = c.Prev() {
			if len(recs) == limit {
				more = true
				break
			}
			var r Record
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			recs = append(recs, r)
		}
		return nil
	})
	slices.Reverse(recs)
	return recs, more, err
}

// Announcements returns the current announcements, oldest first.
func (s *Store) Announcements() []Announcement {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Announcement, 0, len(s.ann))
	for _, a := range s.ann {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b Announcement) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Seed posts list as the host's announcements when the store holds none
// (a store made before them, such as the original app's export, carries
// them over); otherwise it does nothing. Their IDs and times are new.
func (s *Store) Seed(list []Announcement) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(list) == 0 || len(s.ann) > 0 {
		return nil
	}
	recs := make([]*Record, 0, len(list))
	for _, a := range list {
		recs = append(recs, &Record{Kind: KindAnnouncement, Op: OpPost, From: a.From, Role: "host", Text: a.Text})
	}
	_, err := s.append(recs)
	return err
}
