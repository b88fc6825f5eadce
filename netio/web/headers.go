package web

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// securityHeaders sets the headers every response carries. The page's
// WebSockets go back to the host it came from, so the CSP names the
// request's Host, which is checked first: it is copied into a header.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if !validHost(r.Host) {
			h.Set("Content-Security-Policy", csp(""))
			http.Error(w, "bad Host header", http.StatusBadRequest)
			return
		}
		h.Set("Content-Security-Policy", csp(r.Host))
		next.ServeHTTP(w, r)
	})
}

func csp(host string) string {
	connect := "'self'"
	if host != "" {
		connect += " ws://" + host + " wss://" + host
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src " +
		connect + "; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}

// validHost accepts a DNS name or an IP address, with an optional port:
// nothing that could end or extend a header's directive.
func validHost(hostport string) bool {
	if hostport == "" || len(hostport) > 255 {
		return false
	}
	host := hostport
	if h, port, err := net.SplitHostPort(hostport); err == nil {
		if port == "" || len(port) > 5 || strings.Trim(port, "0123456789") != "" {
			return false
		}
		host = h
	} else if strings.ContainsAny(hostport, "[]") {
		return false
	}
	if strings.Contains(host, ":") {
		a, err := netip.ParseAddr(host)
		return err == nil && a.Zone() == "" && strings.Contains(hostport, "[")
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
