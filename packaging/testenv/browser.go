package testenv

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// ArtifactDir is where tests keep what a person looks at afterwards
// (screenshots, screen dumps): the directory the environment variable env
// names, else bin/test-artifacts/sub in the repository. It exists when
// ArtifactDir returns.
func ArtifactDir(t testing.TB, env, sub string) string {
	t.Helper()
	dir := os.Getenv(env)
	if dir == "" {
		dir = filepath.Join(moduleRoot(t), "bin", "test-artifacts", sub)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// webArtifactDir is where the browser tests' screenshots go:
// $LSBROADCAST_ARTIFACTS, else bin/test-artifacts/web.
func webArtifactDir(t testing.TB) string {
	t.Helper()
	return ArtifactDir(t, "LSBROADCAST_ARTIFACTS", "web")
}

// writeScreenshot keeps a browser's screenshot among the web artifacts
// under name, and logs where.
func writeScreenshot(t testing.TB, name string, png []byte) {
	t.Helper()
	file := filepath.Join(webArtifactDir(t), name)
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", file)
}

// JSString is s as a JavaScript string literal (JSON is one; Go's encoder
// escapes U+2028 and U+2029, which older JavaScript refuses in a literal).
func JSString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
