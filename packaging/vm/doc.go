// Package vm proves V4L2 capture on real drivers: `make vmtest` boots
// Debian's kernel under qemu (TCG) for x86_64 and arm64 with a busybox
// initramfs, loads vivid (and v4l2loopback for MJPEG), and runs the
// project's own binaries there, reading their RTSP streams from the host
// through qemu's port forwarding on 127.0.0.1. The tests carry the vmtest
// build tag; fetch.sh and initramfs.sh build what they boot.
package vm
