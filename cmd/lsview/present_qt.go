//go:build linux && !noqt

package main

/*
#cgo pkg-config: Qt5Widgets
#cgo CXXFLAGS: -fPIC
#include <stdlib.h>
#include "present_qt.h"
*/
import "C"

import (
	"image"
	"unsafe"

	"gocv.io/x/gocv"
)

// presentCanvas repaints the dirty part of the window from the canvas
// (BGRA, continuous); false when highgui isn't Qt's here and the caller
// must imshow. Main thread only.
func presentCanvas(canvas gocv.Mat, dirty image.Rectangle) bool {
	pix, err := canvas.DataPtrUint8()
	if err != nil || len(pix) == 0 {
		return false
	}
	name := C.CString(windowName)
	defer C.free(unsafe.Pointer(name))
	return C.lsview_present(name, (*C.uchar)(unsafe.Pointer(&pix[0])), C.int(canvas.Cols()), C.int(canvas.Rows()),
		C.int(canvas.Step()), C.int(dirty.Min.X), C.int(dirty.Min.Y), C.int(dirty.Dx()), C.int(dirty.Dy())) == 1
}

// detachCanvas makes the window forget the canvas before it is freed.
func detachCanvas() { C.lsview_present_detach() }
