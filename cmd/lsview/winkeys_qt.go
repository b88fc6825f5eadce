//go:build linux && !noqt

package main

/*
#cgo pkg-config: Qt5Widgets
#cgo CXXFLAGS: -fPIC
#include "winkeys_qt.h"
*/
import "C"

// installTextRoute puts the Qt key filter on highgui's application; false
// when highgui doesn't run on this Qt (another backend, or Qt 6).
func installTextRoute() bool { return C.lsview_keys_install() == 1 }

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
