package agent

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vela-agent/vela-agent/agent/config"
	"github.com/vela-agent/vela-agent/agent/meta"
)

// The manifests cache reads a version once, whoever asks at the same time,
// and tries a version it could not read again only after manifestRetry.
func TestManifestCache(t *testing.T) {
	var c manifests
	m := &config.Metadata{}
	mod := time.Unix(1700000000, 0)
	var reads atomic.Int32
	release := make(chan struct{})
	read := func() (*meta.Manifest, error) {
		reads.Add(1)
		<-release
		return &meta.Manifest{Name: "metadata.csv"}, nil
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if man, err := c.cached("k", 10, mod, m, read); err != nil || man == nil {
				t.Errorf("cached: %v, %v", man, err)
			}
		}()
	}
	time.Sleep(50 * time.Millisecond) // let them all ask while the first reads
	close(release)
	wg.Wait()
	if n := reads.Load(); n != 1 {
		t.Errorf("one version read %d times by 8 concurrent callers, want once", n)
	}

	fails := 0
	bad := func() (*meta.Manifest, error) { fails++; return nil, errors.New("permission denied") }
	for range 3 {
		if _, err := c.cached("bad", 10, mod, m, bad); err == nil {
			t.Fatal("no error")
		}
	}
	if fails != 1 {
		t.Errorf("a failed version read %d times at once, want 1 until manifestRetry passes", fails)
	}
	defer func(d time.Duration) { manifestRetry = d }(manifestRetry)
	manifestRetry = 0
	time.Sleep(time.Millisecond)
	c.cached("bad", 10, mod, m, bad)
	if fails != 2 {
		t.Errorf("after manifestRetry: %d reads, want 2", fails)
	}
}
