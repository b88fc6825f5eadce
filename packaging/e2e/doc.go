// Package e2e proves the .deb packages on booted systems: `make e2e` builds
// Debian 12 images with lsbroadcast installed (image.sh) and runs this
// package's tests, which are behind the e2e build tag so that plain
// `go test ./...` leaves them alone. The amd64 image boots under qemu
// (TCG); a camera is plugged and unplugged with the vivid driver, and an
// ffmpeg reader on the host decodes the stream through qemu's port
// forwarding on 127.0.0.1. The guest is driven through an agent on a
// virtio-serial port (guest/e2e-agent): no ssh, no network besides the
// forwarded RTSP port.
package e2e
