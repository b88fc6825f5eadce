package device

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/lsbroadcast/lsbroadcast/device/atomicfile"
)

// State is the broadcaster's state directory, held exclusively while it runs.
type State struct {
	Dir        string
	InstanceID string // stable across restarts: 32 hex digits
	lock       *os.File
}

// OpenState creates the directory if needed, takes its lock (so two
// broadcasters never share one), and loads or creates the instance ID.
func OpenState(dir string) (*State, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o640)
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
	st := &State{Dir: dir, lock: lock}
	if st.InstanceID, err = loadOrCreateID(filepath.Join(dir, "instance-id")); err != nil {
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
