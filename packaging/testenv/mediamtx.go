package testenv

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// MediaMTX, the relay engine the relay tests run, built from its Go module
// at this version. The build takes minutes, so the binary is kept in the
// user's cache directory, keyed by version: CI and a developer build it
// once. Nothing of it enters this module's go.mod.
const MediaMTXVersion = "v1.12.3"

const mediamtxModule = "github.com/bluenviron/mediamtx"

// mediamtxPlaceholders are files MediaMTX's module leaves out (its release
// build generates or downloads them) that go:embed wants; the relay tests
// need none of them (the HLS player, the Raspberry Pi camera helper, the
// version string).
var mediamtxPlaceholders = map[string]string{
	"internal/core/VERSION":                                     MediaMTXVersion,
	"internal/servers/hls/hls.min.js":                           "",
	"internal/staticsources/rpicamera/mtxrpicam_32/placeholder": "",
	"internal/staticsources/rpicamera/mtxrpicam_64/placeholder": "",
}

var mediamtxBuild sync.Mutex

// MediaMTX returns the path of the MediaMTX binary, building it first if
// the cache has none (see Unavailable when it can't be built).
func MediaMTX(t testing.TB) string {
	t.Helper()
	mediamtxBuild.Lock()
	defer mediamtxBuild.Unlock()
	cache, err := os.UserCacheDir()
	if err != nil {
		Unavailable(t, "no cache directory for MediaMTX: %v", err)
	}
	bin := filepath.Join(cache, "lsbroadcast-packaging", "mediamtx-"+MediaMTXVersion, exe("mediamtx"))
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	t.Logf("building MediaMTX %s into %s (once)", MediaMTXVersion, bin)
	if err := buildMediaMTX(bin); err != nil {
		Unavailable(t, "build MediaMTX %s: %v", MediaMTXVersion, err)
	}
	return bin
}

// buildMediaMTX downloads MediaMTX's module through the module proxy, builds
// a copy of it with the placeholders in a temporary directory, and moves the
// binary to bin (a rename, so a concurrent test binary never runs half a
// file).
func buildMediaMTX(bin string) error {
	tmp, err := os.MkdirTemp("", "lsbroadcast-mediamtx-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	// go mod download wants a module to run in; an empty one of our own
	// keeps MediaMTX out of ours.
	dl := filepath.Join(tmp, "dl")
	if err := os.MkdirAll(dl, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dl, "go.mod"), []byte("module mediamtxdownload\n"), 0o644); err != nil {
		return err
	}
	out, err := goCmd(dl, "mod", "download", "-json", mediamtxModule+"@"+MediaMTXVersion).Output()
	if err != nil {
		return fmt.Errorf("go mod download: %w: %s", err, stderrOf(err))
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(out, &mod); err != nil {
		return fmt.Errorf("go mod download: %w", err)
	}
	if mod.Error != "" || mod.Dir == "" {
		return fmt.Errorf("go mod download: %s", mod.Error)
	}
	src := filepath.Join(tmp, "src")
	if err := os.CopyFS(src, os.DirFS(mod.Dir)); err != nil {
		return fmt.Errorf("copy module: %w", err)
	}
	for name, content := range mediamtxPlaceholders {
		p := filepath.Join(src, filepath.FromSlash(name))
		if _, err := os.Stat(p); err == nil {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return err
	}
	part := bin + ".part" + strconv.Itoa(os.Getpid())
	if b, err := goCmd(src, "build", "-trimpath", "-o", part, ".").CombinedOutput(); err != nil {
		os.Remove(part)
		return fmt.Errorf("go build: %w\n%s", err, b)
	}
	return os.Rename(part, bin)
}

// goCmd runs go in dir as its own main module, outside any workspace.
func goCmd(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	return cmd
}

func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return strings.TrimSpace(string(ee.Stderr))
	}
	return ""
}

// Relay is MediaMTX running packaging/relay/mediamtx.yml on loopback, on
// ports of its own.
type Relay struct {
	*Proc
	RTSPPort, RTPPort int
}

// Credentials and path of packaging/relay/mediamtx.yml, as shipped.
const (
	RelayUser     = "lsbroadcast"
	RelayPassword = "CHANGE-ME"
	RelayPath     = "/cam"
)

// StartRelay runs MediaMTX with the shipped configuration until the test
// ends, and returns once its RTSP port listens. Given the Relay of an
// earlier run, it starts on the same ports.
func StartRelay(t testing.TB, earlier *Relay) *Relay {
	t.Helper()
	bin := MediaMTX(t)
	var r Relay
	if earlier != nil {
		r = *earlier
	} else {
		rtp, err := FreeUDPRun("127.0.0.1", 2)
		if err != nil {
			t.Fatal(err)
		}
		r = Relay{RTSPPort: FreePort(t), RTPPort: rtp}
	}
	cmd := exec.Command(bin, filepath.Join(moduleRoot(t), "packaging", "relay", "mediamtx.yml"))
	// MediaMTX reads MTX_<SETTING> over its file: the test's ports on
	// loopback, nothing else changed.
	cmd.Env = append(os.Environ(),
		"MTX_RTSPADDRESS="+addr(r.RTSPPort),
		"MTX_RTPADDRESS="+addr(r.RTPPort),
		"MTX_RTCPADDRESS="+addr(r.RTPPort+1))
	r.Proc = Start(t, cmd)
	WaitPort(t, addr(r.RTSPPort), 20*time.Second)
	return &r
}

// ReadURL is where readers play the relay's stream.
func (r *Relay) ReadURL() string { return "rtsp://" + addr(r.RTSPPort) + RelayPath }

// PublishURL is where the broadcaster publishes, with user and password.
func (r *Relay) PublishURL(user, password string) string {
	u := url.URL{Scheme: "rtsp", User: url.UserPassword(user, password), Host: addr(r.RTSPPort), Path: RelayPath}
	return u.String()
}

// moduleRoot is this module's directory, where packaging/ is.
func moduleRoot(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" || strings.TrimSpace(string(out)) == os.DevNull {
		t.Fatalf("go env GOMOD: %v %s", err, out)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}
