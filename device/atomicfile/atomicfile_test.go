package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteReplacesWholeFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	for _, s := range []string{"first\n", "second, longer\n", ""} {
		if err := Write(p, []byte(s), 0o640); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != s {
			t.Fatalf("read %q, %v; want %q", got, err, s)
		}
		if st, _ := os.Stat(p); st.Mode().Perm() != 0o640 {
			t.Fatalf("mode %v", st.Mode())
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
	if err := Write(filepath.Join(dir, "no", "such", "dir"), nil, 0o600); err == nil {
		t.Fatal("wrote into a missing directory")
	}
}

func TestKeep(t *testing.T) {
	dir := t.TempDir()
	p, b := filepath.Join(dir, "a.json"), filepath.Join(dir, "a.json.backup")
	if err := Keep(p, b); err != nil {
		t.Fatalf("nothing to keep: %v", err)
	}
	if _, err := os.Stat(b); !os.IsNotExist(err) {
		t.Fatal("a backup of nothing")
	}
	for _, s := range []string{"one", "two", "three"} {
		if err := Keep(p, b); err != nil {
			t.Fatal(err)
		}
		prev, _ := os.ReadFile(p)
		if err := Write(p, []byte(s), 0o640); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(b); string(got) != string(prev) {
			t.Fatalf("backup %q, want the previous %q", got, prev)
		}
	}
	if got, _ := os.ReadFile(p); string(got) != "three" {
		t.Fatalf("file %q", got)
	}
}
