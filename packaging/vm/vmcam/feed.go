//go:build linux && (amd64 || arm64)

package main

import (
	"context"
	"fmt"
	"hash/crc32"
	"os"
	"unsafe"

	"github.com/lsbroadcast/lsbroadcast/capture"
	"github.com/lsbroadcast/lsbroadcast/capture/pattern"
	"github.com/vladimirvivien/go4vl/v4l2"
	"golang.org/x/sys/unix"
)

// outputFormat mirrors struct v4l2_format on 64-bit machines (its union is
// 8-byte aligned there): go4vl sets formats of capture buffers only.
type outputFormat struct {
	Type uint32
	_    uint32
	Pix  v4l2.PixFormat // laid out as struct v4l2_pix_format
	_    [200 - unsafe.Sizeof(v4l2.PixFormat{})]byte
}

// vidiocSFmt is VIDIOC_S_FMT, _IOWR('V', 5, struct v4l2_format), for the
// 208-byte struct of 64-bit machines.
const vidiocSFmt = 0xc0d05605

// feed writes the test pattern as MJPEG into the output side of a
// v4l2loopback device until ctx ends, and the CRC-32 of every frame it
// wrote, one a line, to hashes: what a reader captures must be among them,
// byte for byte.
func feed(ctx context.Context, path string, size capture.Size, fps int, hashes string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("feed: %w", err)
	}
	defer f.Close()
	sum, err := os.Create(hashes)
	if err != nil {
		return fmt.Errorf("feed: %w", err)
	}
	defer sum.Close()
	pf := outputFormat{Type: v4l2.BufTypeVideoOutput, Pix: v4l2.PixFormat{
		Width: uint32(size.W), Height: uint32(size.H), PixelFormat: v4l2.PixelFmtMJPEG, Field: v4l2.FieldNone,
		SizeImage: uint32(size.W * size.H * 2),
	}}
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), vidiocSFmt, uintptr(unsafe.Pointer(&pf))); errno != 0 {
		return fmt.Errorf("feed: %s: set MJPEG %v output format: %w", path, size, errno)
	}
	var werr error
	src := &pattern.Source{Size: size, FPS: fps, Quality: 80}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	err = src.Run(ctx, func(fr capture.Frame) {
		if _, err := f.Write(fr.JPEG); err != nil {
			werr = fmt.Errorf("feed: write %s: %w", path, err)
			cancel()
			return
		}
		fmt.Fprintf(sum, "%08x\n", crc32.ChecksumIEEE(fr.JPEG))
	})
	if werr != nil {
		return werr
	}
	return err
}
