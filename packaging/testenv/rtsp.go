package testenv

import (
	"net"
	"strconv"
	"testing"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
)

// H264Server starts an RTSP server on loopback that describes an H.264
// stream on any path, a codec our viewers refuse, and returns its
// host:port. It sends no packets: a client must give up at DESCRIBE. It
// stops when the test ends.
func H264Server(t testing.TB) string {
	t.Helper()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
	h := &h264Handler{}
	srv := &gortsplib.Server{Handler: h, RTSPAddress: addr}
	if err := srv.Start(); err != nil {
		t.Fatalf("H.264 test server: %v", err)
	}
	t.Cleanup(srv.Close)
	h.stream = &gortsplib.ServerStream{Server: srv, Desc: &description.Session{Medias: []*description.Media{{
		Type: description.MediaTypeVideo, Formats: []format.Format{&format.H264{PayloadTyp: 96, PacketizationMode: 1}},
	}}}}
	if err := h.stream.Initialize(); err != nil {
		t.Fatalf("H.264 test stream: %v", err)
	}
	t.Cleanup(h.stream.Close)
	return addr
}

type h264Handler struct{ stream *gortsplib.ServerStream }

func (h *h264Handler) OnDescribe(*gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return &base.Response{StatusCode: base.StatusOK}, h.stream, nil
}
