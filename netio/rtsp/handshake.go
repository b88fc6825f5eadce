package rtsp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/auth"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	rtspconn "github.com/bluenviron/gortsplib/v5/pkg/conn"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"
)

// rtspConn is the RTSP control connection of the UDP receive path (see
// udp.go): requests one at a time, Basic or Digest auth on a 401, and the
// session id once SETUP gave one.
type rtspConn struct {
	nc      net.Conn
	conn    *rtspconn.Conn
	timeout time.Duration
	user    string
	pass    string
	hasUser bool

	mu      sync.Mutex // requests: the keep-alive and TEARDOWN come from other goroutines than the handshake
	cseq    int
	sender  *auth.Sender
	session string
}

// errStatus is a response that was not 200 OK.
type errStatus struct {
	method base.Method
	code   base.StatusCode
	msg    string
}

func (e errStatus) Error() string {
	return fmt.Sprintf("%s: server answered %d %s", e.method, e.code, e.msg)
}

// dialRTSP opens the control connection to u's host (port 554 if none).
func dialRTSP(ctx context.Context, u *base.URL, timeout time.Duration) (*rtspConn, error) {
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "554")
	}
	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, err
	}
	r := &rtspConn{nc: nc, conn: rtspconn.NewConn(bufio.NewReader(nc), nc), timeout: timeout}
	if u.User != nil {
		r.user = u.User.Username()
		r.pass, _ = u.User.Password()
		r.hasUser = true
	}
	return r, nil
}

// do sends one request and reads its response, answering one 401 with
// credentials from the URL.
func (r *rtspConn) do(method base.Method, u *base.URL, h base.Header) (*base.Response, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for attempt := 0; ; attempt++ {
		res, err := r.roundTrip(method, u, h, true)
		if err != nil {
			return nil, err
		}
		if res.StatusCode == base.StatusUnauthorized && r.sender == nil && r.hasUser && attempt == 0 {
			r.sender = &auth.Sender{WWWAuth: res.Header["WWW-Authenticate"], User: r.user, Pass: r.pass}
			if err := r.sender.Initialize(); err != nil {
				return nil, fmt.Errorf("%s: auth: %w", method, err)
			}
			continue
		}
		if res.StatusCode != base.StatusOK {
			return res, errStatus{method, res.StatusCode, res.StatusMessage}
		}
		return res, nil
	}
}

// send writes a request without waiting for its answer: once playing,
// the keep-alive's reader (see udp.go) takes the responses.
func (r *rtspConn) send(method base.Method, u *base.URL) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, err := r.roundTrip(method, u, nil, false)
	return err
}

func (r *rtspConn) roundTrip(method base.Method, u *base.URL, h base.Header, wait bool) (*base.Response, error) {
	r.cseq++
	hdr := base.Header{"CSeq": base.HeaderValue{strconv.Itoa(r.cseq)}, "User-Agent": base.HeaderValue{"lsview"}}
	for k, v := range h {
		hdr[k] = v
	}
	if r.session != "" {
		hdr["Session"] = base.HeaderValue{r.session}
	}
	req := &base.Request{Method: method, URL: u.CloneWithoutCredentials(), Header: hdr}
	if r.sender != nil {
		r.sender.AddAuthorization(req)
	}
	if err := r.nc.SetWriteDeadline(time.Now().Add(r.timeout)); err != nil {
		return nil, err
	}
	if err := r.conn.WriteRequest(req); err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	if !wait {
		return nil, nil
	}
	if err := r.nc.SetReadDeadline(time.Now().Add(r.timeout)); err != nil {
		return nil, err
	}
	res, err := r.conn.ReadResponse()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	return res, nil
}

// setSession keeps the session id SETUP gave and returns its timeout.
func (r *rtspConn) setSession(res *base.Response) (time.Duration, error) {
	var s headers.Session
	if err := s.Unmarshal(res.Header["Session"]); err != nil {
		return 0, fmt.Errorf("SETUP: session header: %w", err)
	}
	r.mu.Lock()
	r.session = s.Session
	r.mu.Unlock()
	if s.Timeout != nil && *s.Timeout > 0 {
		return time.Duration(*s.Timeout) * time.Second, nil
	}
	return 60 * time.Second, nil // RFC 2326 §12.37's default
}

// unsupportedTransport tells a server that refuses UDP, for auto's fall
// back to TCP.
func unsupportedTransport(err error) bool {
	var e errStatus
	return errors.As(err, &e) && e.code == base.StatusUnsupportedTransport
}

func (r *rtspConn) close() { r.nc.Close() }
