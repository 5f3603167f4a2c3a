//go:build windows

package upload

import (
	"os"
	"testing"
)

// TestOpenNoFollowShares checks that the recorder may still rename and
// delete a file while it is being uploaded.
func TestOpenNoFollowShares(t *testing.T) {
	path, _ := randomFile(t, 10)
	f, err := openNoFollow(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := os.Rename(path, path+".moved"); err != nil {
		t.Errorf("rename while open: %v", err)
	}
	if err := os.Remove(path + ".moved"); err != nil {
		t.Errorf("delete while open: %v", err)
	}
	if _, err := f.Read(make([]byte, 10)); err != nil {
		t.Errorf("read after delete: %v", err)
	}
}
