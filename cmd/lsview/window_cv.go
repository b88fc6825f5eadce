package main

/*
#cgo pkg-config: opencv4
#cgo CXXFLAGS: --std=c++11
#include <stdlib.h>
#include "window_cv.h"
*/
import "C"

import (
	"unsafe"

	"gocv.io/x/gocv"
)

// openWindow creates the window without toolbar or status bar (OpenCV's
// WINDOW_GUI_NORMAL), resizable with the picture's aspect kept, then hands
// it to gocv, which finds it by name. Main thread only.
func openWindow(name string) *gocv.Window {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	C.lsview_named_window(cs)
	return gocv.NewWindow(name)
}
