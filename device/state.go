package device

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/lsbroadcast/lsbroadcast/device/atomicfile"
)

// StateFiles are the paths of everything the broadcaster keeps in its state
// directory.
type StateFiles struct {
	Lock       string // held while a broadcaster runs
	InstanceID string
	HostKey    string
	ChatDB     string // the chat's history and announcements
	// Announcements is the original classroom app's export of the
	// announcements; AnnouncementsBackup holds the one before it.
	Announcements       string
	AnnouncementsBackup string
	// CameraSettings holds what the host set, per camera.
	CameraSettings string
}

// FilesIn lays out the state directory dir. It is the one place that names
// the files: the names are those earlier releases wrote, and an upgrade
// reads them, so they stay.
func FilesIn(dir string) StateFiles {
	return StateFiles{
		Lock:                filepath.Join(dir, "lock"),
		InstanceID:          filepath.Join(dir, "instance-id"),
		HostKey:             filepath.Join(dir, "host-key"),
		ChatDB:              filepath.Join(dir, "chat.db"),
		Announcements:       filepath.Join(dir, "announcements.json"),
		AnnouncementsBackup: filepath.Join(dir, "announcements.json.backup"),
		CameraSettings:      filepath.Join(dir, "camera-settings.json"),
	}
}

// State is the broadcaster's state directory, held exclusively while it runs.
type State struct {
	Dir        string
	Files      StateFiles
	InstanceID string // stable across restarts: 32 hex digits
	lock       *os.File
}

// OpenState creates the directory if needed, takes its lock (so two
// broadcasters never share one), and loads or creates the instance ID.
func OpenState(dir string) (*State, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	files := FilesIn(dir)
	lock, err := os.OpenFile(files.Lock, os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("state directory %s is in use by another lsbroadcast", dir)
		}
		return nil, fmt.Errorf("state directory %s: lock: %w", dir, err)
	}
	st := &State{Dir: dir, Files: files, lock: lock}
	if st.InstanceID, err = loadOrCreateID(files.InstanceID); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// Close releases the lock.
func (s *State) Close() error { return s.lock.Close() }

func loadOrCreateID(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		id := strings.TrimSpace(string(b))
		if _, decErr := hex.DecodeString(id); decErr == nil && len(id) == 32 {
			return id, nil
		}
		// A torn or edited file: a new identity beats refusing to start.
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("instance id: %w", err)
	}
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("instance id: %w", err)
	}
	id := hex.EncodeToString(raw[:])
	if err := atomicfile.Write(path, []byte(id+"\n"), 0o640); err != nil {
		return "", fmt.Errorf("instance id: %w", err)
	}
	return id, nil
}

// HostKey reads the chat's host key, creating it (mode 0600: whoever holds
// it posts announcements) at first start. created says it was just made,
// so the caller can say where it is. The key itself goes only to the file:
// logs are read by more people (the adm group reads the journal) and get
// pasted into support requests; HostKeyFingerprint names it there.
func (s *State) HostKey() (key string, created bool, err error) {
	path := s.Files.HostKey
	b, err := os.ReadFile(path)
	switch {
	case err == nil && strings.TrimSpace(string(b)) == "":
		// An empty file holds no key anybody was given (a failed first
		// write of an older release left it): a new one locks nobody out,
		// while refusing would keep the service down until someone
		// deletes the file by hand.
	case err == nil:
		key = strings.TrimSpace(string(b))
		if len(key) < 16 {
			// Unlike the instance ID, the host has this key: a new one
			// would lock them out without a word.
			return "", false, fmt.Errorf("host key %s is too short: delete it to make a new one", path)
		}
		return key, false, nil
	case !errors.Is(err, os.ErrNotExist):
		return "", false, fmt.Errorf("host key: %w", err)
	}
	var raw [24]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", false, fmt.Errorf("host key: %w", err)
	}
	key = hex.EncodeToString(raw[:])
	// All or nothing: a failed write (a full disk) leaves no file, so the
	// next start makes the key again.
	if err := atomicfile.Write(path, []byte(key+"\n"), 0o600); err != nil {
		return "", false, fmt.Errorf("host key: %w", err)
	}
	return key, true, nil
}

// HostKeyFingerprint names a host key in logs without giving it away: the
// first 8 hex digits of its SHA-256.
func HostKeyFingerprint(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:4])
}
