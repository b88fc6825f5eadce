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
