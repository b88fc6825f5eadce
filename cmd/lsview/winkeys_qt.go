//go:build linux && !noqt

package main

/*
#cgo pkg-config: Qt5Widgets
#cgo CXXFLAGS: -fPIC
#include "winkeys_qt.h"
*/
import "C"

import "time"

// installTextRoute puts the Qt key filter on highgui's application; false
// when highgui doesn't run on this Qt (another backend, or Qt 6).
func installTextRoute() bool { return C.lsview_keys_install() == 1 }

// waitTextRoute runs the GUI's events until one comes, wakeTextRoute is
// called or d passes: the beat of the window when the route is in.
func waitTextRoute(d time.Duration) { C.lsview_wait(C.int(d.Milliseconds())) }

// wakeTextRoute ends a waitTextRoute early, from any goroutine: there is
// a new picture. It does nothing before the route is installed.
func wakeTextRoute() { C.lsview_wake() }

// drainTextRoute appends what the filter caught since the last call.
func drainTextRoute(buf []typed) []typed {
	for {
		var key, n C.int
		p := C.lsview_keys_next(&key, &n)
		if p == nil {
			return buf
		}
		buf = append(buf, typed{key: editKey(key), text: C.GoStringN(p, n)})
	}
}
