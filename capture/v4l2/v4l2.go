// Package v4l2 captures Linux V4L2 cameras through go4vl: MJPEG and JPEG
// frames pass through byte for byte; raw YUV and RGB frames are encoded to
// JPEG by the encode worker pool straight from the driver's buffers.
//
// go4vl's v4l2 package does the ioctls. Its device package is not used:
// its stream loop panics when a camera is unplugged, and its goroutines
// outlive the device; here one loop owns the buffers and returns an error
// instead, so the caller can show a slate and reopen.
//
// V4L2 is Linux's: the *_linux.go files hold the capture; elsewhere
// (source_other.go) Open fails with ErrUnsupported and Enumerate finds
// nothing, so the packages that wire sources build on every system.
package v4l2

import (
	"errors"

	"github.com/lsbroadcast/lsbroadcast/capture"
)

var (
	_ capture.Source     = (*Source)(nil)
	_ capture.Controller = (*Source)(nil)
	_ capture.Identifier = (*Source)(nil)
)

// Config says what to ask the camera for.
type Config struct {
	Size    capture.Size // zero: the driver's current size
	FPS     int          // 0: the driver's current rate
	Quality int          // JPEG quality 1–100 for raw formats
	Workers int          // encoder goroutines for raw formats; 0: one per CPU
	// PixelFormat, e.g. "YUYV", forces one of the device's formats;
	// empty: the best (JPEG first).
	PixelFormat string
}

// DeviceInfo describes a video capture node.
type DeviceInfo struct {
	Path    string // e.g. /dev/video0
	Card    string // the camera's name (QUERYCAP card), the default stream name
	Driver  string // e.g. uvcvideo, vivid
	Bus     string // e.g. usb-0000:00:14.0-1
	Formats []string
	// Usable says whether Open can stream it: it offers a format we take
	// (JPEG, or raw YUV or RGB to encode).
	Usable bool
}

// Errors that Open and Enumerate wrap, for errors.Is.
var (
	ErrNotCapture = errors.New("not a video capture device")
	ErrBusy       = errors.New("device busy: another program is capturing from it")
	ErrNoFormat   = errors.New("no pixel format lsbroadcast can stream")
	ErrGone       = errors.New("device gone (unplugged?)")
	ErrStalled    = errors.New("device delivers no frames")
)
