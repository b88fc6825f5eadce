# lsview and discovery: what their tests need on a fresh Debian machine.
# avahi-daemon, avahi-utils and dbus: interop tests run avahi (with its own
# D-Bus) inside a network namespace. xvfb, xdotool, imagemagick (import) and
# tmux drive the window and the terminal picker; libopencv-dev builds GoCV.
# The GUI tests keep their screenshots (and the picker's screen as text) in
# $LSVIEW_ARTIFACTS, by default bin/test-artifacts/lsview/.
DEB_DEPS += avahi-daemon avahi-utils dbus iproute2 \
	xvfb xdotool imagemagick tmux libopencv-dev

FUZZ_TARGETS += ./netio/mdns:FuzzParseInterfaces ./netio/mdns:FuzzParseTXT \
	./netio/rtsp:FuzzParseTransport ./cmd/lsview:FuzzParseTarget ./cmd/lsview:FuzzParseKey
