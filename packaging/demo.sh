#!/bin/bash
# demo.sh [BIN]: runs BIN/lsbroadcast on loopback with discovery off (the
# first usable camera, else the test pattern) and shows the stream with
# whatever viewer is already here: BIN/lsview (built by `make demo` when
# OpenCV is installed), else ffplay, else GStreamer's gst-launch; else it
# prints the URL to open.
# `make demo` installs only what lsbroadcast needs to build.
set -euo pipefail
bin=${1:-bin}
port=8554
"$bin/lsbroadcast" --source auto --listen 127.0.0.1 --mdns off --rtsp-port "$port" &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null' EXIT
trap 'exit 0' INT TERM
url="rtsp://127.0.0.1:$port/live"
for _ in $(seq 50); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	kill -0 "$pid" 2>/dev/null || exit 1
	sleep 0.1
done
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ -x "$bin/lsview" ]; then
	"$bin/lsview" 127.0.0.1
elif [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && command -v ffplay >/dev/null; then
	ffplay -loglevel warning -rtsp_transport tcp -fflags nobuffer -flags low_delay -window_title "lsbroadcast demo" "$url"
elif [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && command -v gst-launch-1.0 >/dev/null; then
	gst-launch-1.0 -q rtspsrc location="$url" protocols=tcp latency=0 ! rtpjpegdepay ! jpegdec ! videoconvert ! autovideosink
else
	echo "No display here: open $url in VLC, ffplay or lsview. Ctrl-C stops."
	wait "$pid"
fi
