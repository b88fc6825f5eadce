package v4l2

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The few ioctls go4vl v0.0.5 gets wrong or hides: QUERYCTRL's flags
// (disabled, read-only, inactive, write-only), QUERYMENU's integer-menu
// values (go4vl reads the union as a name), and ENUM_FRAMESIZES' stepwise
// ranges (go4vl reads them 8 bytes too far). Layouts and numbers are the
// kernel's uapi <linux/videodev2.h>.
const (
	vidiocQueryCtrl      = 0xc0445624 // _IOWR('V', 36, struct v4l2_queryctrl), 68 bytes
	vidiocQueryMenu      = 0xc02c5625 // _IOWR('V', 37, struct v4l2_querymenu), 44 bytes (packed)
	vidiocEnumFrameSizes = 0xc02c564a // _IOWR('V', 74, struct v4l2_frmsizeenum), 44 bytes
)

// V4L2_CTRL_FLAG_* of struct v4l2_queryctrl.
const (
	ctrlFlagDisabled  = 0x0001
	ctrlFlagReadOnly  = 0x0004
	ctrlFlagInactive  = 0x0010
	ctrlFlagWriteOnly = 0x0040
	ctrlFlagVolatile  = 0x0080
)

// V4L2_CTRL_TYPE_*: the kinds we offer, and the class marker we skip.
const (
	ctrlTypeInteger     = 1
	ctrlTypeBoolean     = 2
	ctrlTypeMenu        = 3
	ctrlTypeButton      = 4
	ctrlTypeCtrlClass   = 6
	ctrlTypeIntegerMenu = 9
)

// queryCtrl is struct v4l2_queryctrl.
type queryCtrl struct {
	ID       uint32
	Type     uint32
	Name     [32]byte
	Min      int32
	Max      int32
	Step     int32
	Default  int32
	Flags    uint32
	Reserved [2]uint32
}

func ioctl(fd uintptr, req uintptr, arg unsafe.Pointer) error {
	for {
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, fd, req, uintptr(arg))
		switch errno {
		case 0:
			return nil
		case unix.EINTR:
			continue
		}
		return errno
	}
}

// queryControl reads what the driver says of control id.
func queryControl(fd uintptr, id uint32) (queryCtrl, error) {
	q := queryCtrl{ID: id}
	if err := ioctl(fd, vidiocQueryCtrl, unsafe.Pointer(&q)); err != nil {
		return queryCtrl{}, fmt.Errorf("VIDIOC_QUERYCTRL %#x: %w", id, err)
	}
	return q, nil
}

// queryMenuRaw is struct v4l2_querymenu, packed: 4+4+32+4 bytes, the
// union of name[32] and an int64 value at offset 8.
type queryMenuRaw [44]byte

// queryMenu reads item index of menu control id: its name, and its value
// for an integer menu. ok is false for an index the driver skips.
func queryMenu(fd uintptr, id, index uint32) (name string, value int64, ok bool) {
	var q queryMenuRaw
	binary.NativeEndian.PutUint32(q[0:], id)
	binary.NativeEndian.PutUint32(q[4:], index)
	if ioctl(fd, vidiocQueryMenu, unsafe.Pointer(&q)) != nil {
		return "", 0, false
	}
	name, value = q.item()
	return name, value, true
}

// item reads the union both ways: the caller knows which applies.
func (q *queryMenuRaw) item() (name string, value int64) {
	return cString(q[8:40]), int64(binary.NativeEndian.Uint64(q[8:]))
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// frameSizeEnum is struct v4l2_frmsizeenum: index, pixel_format, type, then
// the union of discrete {width, height} and stepwise {min_width, max_width,
// step_width, min_height, max_height, step_height}, then reserved[2].
type frameSizeEnum struct {
	Index       uint32
	PixelFormat uint32
	Type        uint32
	U           [6]uint32
	Reserved    [2]uint32
}

// V4L2_FRMSIZE_TYPE_*.
const frameSizeDiscrete = 1

// enumFrameSizes lists the sizes the device offers for pixel format code:
// the discrete sizes, or the one stepwise/continuous range.
func enumFrameSizes(fd uintptr, code uint32) ([]frameSizeEnum, error) {
	var out []frameSizeEnum
	for i := uint32(0); i < 256; i++ {
		e := frameSizeEnum{Index: i, PixelFormat: code}
		if err := ioctl(fd, vidiocEnumFrameSizes, unsafe.Pointer(&e)); err != nil {
			if err == unix.EINVAL && i > 0 {
				break
			}
			return out, fmt.Errorf("VIDIOC_ENUM_FRAMESIZES %s: %w", fourccString(code), err)
		}
		out = append(out, e)
		if e.Type != frameSizeDiscrete {
			break
		}
	}
	return out, nil
}
