package device

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/lsbroadcast/lsbroadcast/device/atomicfile"
	"github.com/lsbroadcast/lsbroadcast/netio/chat/store"
)

// announcementsFile is announcements.json, the current announcements as the
// original classroom app exported them, with the file before it kept as a
// backup. A crash or power loss leaves both whole.
type announcementsFile struct {
	path, backup string
}

// write replaces the file with list, the previous file becoming the backup.
func (f announcementsFile) write(list []store.Announcement) error {
	data, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return fmt.Errorf("%s: %w", f.path, err)
	}
	// The previous file becomes the backup without the file ever being
	// missing, then the new one replaces it.
	if err := atomicfile.Keep(f.path, f.backup); err != nil {
		return fmt.Errorf("announcements backup: %w", err)
	}
	if err := atomicfile.Write(f.path, append(data, '\n'), 0o640); err != nil {
		return fmt.Errorf("%s: %w", f.path, err)
	}
	return nil
}

// read returns the file's announcements, or the backup's when the file is
// damaged. No file is no announcement; damage is an error only when no
// announcement could be read.
func (f announcementsFile) read() ([]store.Announcement, error) {
	var list []store.Announcement
	var firstErr error
	for _, path := range []string{f.path, f.backup} {
		data, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err == nil {
			err = json.Unmarshal(data, &list)
		}
		if err == nil {
			break
		}
		list = nil
		firstErr = errors.Join(firstErr, fmt.Errorf("%s: %w", path, err))
	}
	if len(list) == 0 && firstErr != nil {
		return nil, fmt.Errorf("import announcements: %w", firstErr)
	}
	return list, nil
}

// seed carries the file's announcements into a store that holds none: the
// first start after the original app, or after chat.db was lost.
func (f announcementsFile) seed(st *store.Store) error {
	if len(st.Announcements()) > 0 {
		return nil
	}
	list, err := f.read()
	if err != nil {
		return err
	}
	return st.Seed(list)
}
