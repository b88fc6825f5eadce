package v4l2

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/vladimirvivien/go4vl/v4l2"
)

// Drivers of the Raspberry Pi's memory-to-memory nodes (/dev/video10–31:
// codec, ISP, HEVC decoder). The ISP's outputs claim VIDEO_CAPTURE, so the
// capability bits alone do not tell them from a camera.
var m2mDrivers = map[string]bool{
	"bcm2835-codec": true, "bcm2835-isp": true, "rpivid": true, "rpi-hevc-dec": true, "pispbe": true,
}

// Enumerate lists the capture-capable /dev/video* nodes in number order:
// metadata, output-only and memory-to-memory nodes are left out. Nodes it
// cannot open (permissions, busy probe) are left out too.
func Enumerate() ([]DeviceInfo, error) {
	nodes, err := filepath.Glob("/dev/video*")
	if err != nil {
		return nil, fmt.Errorf("list video devices: %w", err)
	}
	sort.Slice(nodes, func(i, j int) bool { return nodeNumber(nodes[i]) < nodeNumber(nodes[j]) })
	var out []DeviceInfo
	for _, n := range nodes {
		if nodeNumber(n) < 0 {
			continue
		}
		info, err := probe(n)
		if err != nil {
			continue
		}
		out = append(out, info)
	}
	return out, nil
}

// nodeNumber is N of /dev/videoN, or -1.
func nodeNumber(path string) int {
	s, ok := strings.CutPrefix(path, "/dev/video")
	if !ok {
		return -1
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// probe opens path just long enough to read what it is.
func probe(path string) (DeviceInfo, error) {
	fd, err := openNode(path)
	if err != nil {
		return DeviceInfo{}, err
	}
	defer v4l2.CloseDevice(fd)
	info, _, err := describe(fd, path)
	return info, err
}

// openNode opens a V4L2 node without blocking, with errors people can act on.
func openNode(path string) (uintptr, error) {
	fd, err := v4l2.OpenDevice(path, syscall.O_RDWR|syscall.O_NONBLOCK, 0)
	switch {
	case errors.Is(err, syscall.EBUSY):
		return 0, fmt.Errorf("%s: %w", path, ErrBusy)
	case errors.Is(err, syscall.ENOENT):
		return 0, fmt.Errorf("%s: no such device", path)
	case err != nil:
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return fd, nil
}

// describe reads a node's capabilities and formats and says whether it is
// a capture device; offered lists its formats.
func describe(fd uintptr, path string) (info DeviceInfo, offered []v4l2.FourCCType, err error) {
	c, err := v4l2.GetCapability(fd)
	if err != nil {
		// A character device that does not answer QUERYCAP (ENOTTY) is
		// not V4L2 at all.
		return DeviceInfo{}, nil, fmt.Errorf("%s: %w (QUERYCAP: %v)", path, ErrNotCapture, err)
	}
	info = DeviceInfo{Path: path, Card: c.Card, Driver: c.Driver, Bus: c.BusInfo}
	// device_caps describe this node; capabilities, the whole device,
	// which on a multi-node driver includes its other nodes' abilities.
	caps := c.GetCapabilities()
	switch {
	case caps&(v4l2.CapVideoMem2Mem|v4l2.CapVideoMem2MemMPlane) != 0 || m2mDrivers[c.Driver]:
		return info, nil, fmt.Errorf("%s (%s, %s): %w: a memory-to-memory codec or ISP node", path, c.Card, c.Driver, ErrNotCapture)
	case caps&v4l2.CapVideoCapture == 0 && caps&v4l2.CapVideoCaptureMPlane != 0:
		return info, nil, fmt.Errorf("%s (%s): %w: multi-planar capture only, which go4vl does not stream", path, c.Card, ErrNotCapture)
	case caps&v4l2.CapVideoCapture == 0:
		return info, nil, fmt.Errorf("%s (%s): %w (a metadata or output node)", path, c.Card, ErrNotCapture)
	case caps&v4l2.CapStreaming == 0:
		return info, nil, fmt.Errorf("%s (%s): %w: no streaming I/O", path, c.Card, ErrNotCapture)
	}
	descs, err := v4l2.GetAllFormatDescriptions(fd)
	if err != nil && len(descs) == 0 {
		return info, nil, fmt.Errorf("%s (%s): list formats: %w", path, c.Card, err)
	}
	for _, d := range descs {
		offered = append(offered, d.PixelFormat)
		info.Formats = append(info.Formats, fourccString(d.PixelFormat))
	}
	info.Usable = len(candidates(offered)) > 0
	return info, offered, nil
}
