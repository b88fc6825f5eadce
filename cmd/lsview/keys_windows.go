package main

import (
	"os"
	"time"

	"golang.org/x/sys/windows"
)

// waitReadable waits at most d for console input on f, so the key reader
// never sits in a read its owner can't end.
func waitReadable(f *os.File, d time.Duration) (bool, error) {
	ev, err := windows.WaitForSingleObject(windows.Handle(f.Fd()), uint32(d.Milliseconds()))
	if err != nil {
		return false, err
	}
	return ev == windows.WAIT_OBJECT_0, nil
}
