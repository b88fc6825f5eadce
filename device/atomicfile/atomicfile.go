// Package atomicfile replaces files so that a crash or a power loss leaves
// either the old content or the new one, never a torn file.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write replaces path with data and mode: it writes a temporary file beside
// path, syncs it, renames it over path and syncs the directory, so the
// rename itself is on disk when Write returns.
func Write(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// Keep makes backup a copy of path's current content (a hard link, so no
// bytes are copied) without path ever being missing; nothing happens when
// path does not exist.
func Keep(path, backup string) error {
	tmp := backup + ".new"
	os.Remove(tmp)
	if err := os.Link(path, tmp); err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return err
	}
	if err := os.Rename(tmp, backup); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(backup))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
