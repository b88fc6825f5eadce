package main

/*
#cgo pkg-config: opencv4
#cgo CXXFLAGS: --std=c++11
#include <stdlib.h>
#include "window_cv.h"
*/
import "C"

import (
	"image"
	"unsafe"

	"gocv.io/x/gocv"
)

// openWindow creates the window without toolbar or status bar (OpenCV's
// WINDOW_GUI_NORMAL), resizable and drawn one to one (lsview lays out its
// canvas at the window's size), then hands it to gocv, which finds it by
// name. Main thread only.
func openWindow(name string) *gocv.Window {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	C.lsview_named_window(cs)
	return gocv.NewWindow(name)
}

// windowSize is the size of the window's image area now; false when the
// backend can't say. Main thread only.
func windowSize(name string) (image.Point, bool) {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	var w, h C.int
	C.lsview_window_size(cs, &w, &h)
	return image.Pt(int(w), int(h)), w > 0 && h > 0
}
