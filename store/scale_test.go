package store

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// What the agent stores for a call on its way to Done: the metadata JSON
// it builds, and the presign it keeps from the presign request until the
// upload is confirmed, with the fields of a real presigned POST (a base64
// policy and a session token make most of its 1.7 kB).
var (
	uploadMeta   = []byte(`{"agent_name":"Thandi Nkosi","team":"Retention","date_of_call":"2025-03-01 09:14"}`)
	uploadPolicy = strings.Repeat("eyJleHBpcmF0aW9uIjoiMjAyNS0wMy0wMVQxMjowMDowMFoiLCJjb25kaXRpb25zIjpb", 12)
	uploadToken  = strings.Repeat("IQoJb3JpZ2luX2VjEJr//////////wEaCWV1LXdlc3QtMSJHMEUCIQ", 8)
)

// uploadPresign returns a presign like the API's for job id.
func uploadPresign(id uint64, now time.Time) *Presign {
	return &Presign{
		URL: "https://vela-uploads.s3.eu-west-1.amazonaws.com/",
		Fields: []Field{
			{"key", fmt.Sprintf("org-1/calls/2025/03/%d/call.wav", id)},
			{"x-amz-algorithm", "AWS4-HMAC-SHA256"},
			{"x-amz-credential", "ASIAXAMPLEKEYID/20250301/eu-west-1/s3/aws4_request"},
			{"x-amz-date", "20250301T120000Z"},
			{"x-amz-security-token", uploadToken},
			{"policy", uploadPolicy},
			{"x-amz-signature", "9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0"},
			{"success_action_status", "204"},
		},
		Expires: now.Add(time.Hour),
	}
}

// uploadPath is the path of the k-th call of fillUploaded: a folder per
// day and agent, as call recorders write them; with randomNames, a
// random name (a call's id) in one folder.
func uploadPath(k int) string {
	if randomNames {
		return fmt.Sprintf("recordings/%016x.wav", uint64(k)*0x9e3779b97f4a7c15)
	}
	return fmt.Sprintf("2025/%02d/%02d/agent%03d/call_%09d.wav", 1+k/100_000%12, 1+k/3_000%28, k%97, k)
}

// randomNames makes uploadPath name files at random.
var randomNames = false

// fillUploaded takes n new calls of source src, numbered from first,
// through s as real uploads do: added in batches of batch files, as a
// rescan offers them, then each job claimed, presigned (its metadata and
// the form saved), uploaded (the form dropped) and released Done, with
// depth jobs in flight, as with upload.concurrency: depth. Each commit is
// one job's, as when uploads take longer than commits, and the order is
// always the same. It writes without fsync, for speed, and syncs at the
// end.
func fillUploaded(t testing.TB, s *Store, src string, first, n, batch, depth int) {
	t.Helper()
	fillWith(t, s, src, first, n, batch, func() error { return uploadPipeline(s, depth) })
}

// fillBursts is fillUploaded with workers workers that take jobs through
// at once, without waiting for an upload, so that the store groups their
// commits as it finds them: the order depends on the scheduler.
func fillBursts(t testing.TB, s *Store, src string, first, n, batch, workers int) {
	t.Helper()
	fillWith(t, s, src, first, n, batch, func() error {
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for range workers {
			wg.Go(func() {
				for {
					j, err := s.Claim(LaneCalls)
					if err == nil && j != nil {
						err = uploadOne(s, j)
					}
					if err != nil || j == nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// fillWith adds the calls in batches and runs upload after each batch.
func fillWith(t testing.TB, s *Store, src string, first, n, batch int, upload func() error) {
	t.Helper()
	s.db.NoSync = true
	linger := commitLinger
	commitLinger = 0
	defer func() {
		commitLinger = linger
		s.db.NoSync = false
		if err := s.db.Sync(); err != nil {
			t.Fatal(err)
		}
	}()
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for done := 0; done < n; {
		var fs []Found
		for k := first + done; k < first+min(n, done+batch); k++ {
			fs = append(fs, Found{
				Source:  src,
				Path:    uploadPath(k),
				Size:    900_000 + int64(k%50_000),
				ModTime: base.Add(time.Duration(k) * 30 * time.Second),
				Kind:    Call,
			})
		}
		if added, err := s.Add(fs); err != nil || added != len(fs) {
			t.Fatalf("Add(%d files) = %d, %v", len(fs), added, err)
		}
		done += len(fs)
		if err := upload(); err != nil {
			t.Fatal(err)
		}
	}
}

// uploadPipeline takes every due call to Done, depth at a time: each new
// job is claimed and presigned, and once depth are in flight the oldest is
// uploaded and released.
func uploadPipeline(s *Store, depth int) error {
	var flight []*Job
	for {
		j, err := s.Claim(LaneCalls)
		if err != nil {
			return err
		}
		if j != nil {
			j.Meta = uploadMeta
			j.State = Presigned
			j.Presign = uploadPresign(j.ID, s.clock())
			if err := s.Save(j); err != nil {
				return err
			}
			flight = append(flight, j)
		}
		if len(flight) == 0 {
			return nil
		}
		if len(flight) >= depth || j == nil {
			if err := finishUpload(s, flight[0]); err != nil {
				return err
			}
			flight = flight[1:]
		}
	}
}

// uploadOne takes the claimed job j to Done with the commits the agent
// makes for a call: the presign, in the background while the upload
// starts; the confirmed upload, without the presign; the release.
func uploadOne(s *Store, j *Job) error {
	j.Meta = uploadMeta
	j.State = Presigned
	j.Presign = uploadPresign(j.ID, s.clock())
	if err := s.SaveAsync(j)(); err != nil {
		return err
	}
	return finishUpload(s, j)
}

// finishUpload takes the presigned job j to Done: the confirmed upload,
// without the presign, then the release.
func finishUpload(s *Store, j *Job) error {
	j.State, j.Presign = Uploaded, nil
	if err := s.Save(j); err != nil {
		return err
	}
	j.State = Done
	return s.Release(j)
}

// scaleFigures are the sizes of a state file.
type scaleFigures struct {
	file, used, live int64               // file size, pages up to the high-water mark, live bytes
	buckets          map[string][2]int64 // live and allocated bytes of each bucket
}

func measureScale(t testing.TB, s *Store) scaleFigures {
	t.Helper()
	fi, err := os.Stat(s.path)
	if err != nil {
		t.Fatal(err)
	}
	f := scaleFigures{file: fi.Size(), buckets: map[string][2]int64{}}
	err = s.db.View(func(tx *bolt.Tx) error {
		f.used = tx.Size()
		for _, name := range allBuckets {
			st := tx.Bucket(name).Stats()
			in := int64(st.BranchInuse + st.LeafInuse + st.InlineBucketInuse)
			f.buckets[string(name)] = [2]int64{in, int64(st.BranchAlloc + st.LeafAlloc)}
			f.live += in
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f scaleFigures) log(t testing.TB, what string, n int) {
	t.Helper()
	mb := func(b int64) string { return fmt.Sprintf("%.1f MB (%d B/job)", float64(b)/1e6, b/int64(n)) }
	t.Logf("%s, %d jobs: file %s, pages used %s, live %s: %.0f%% of the file", what, n, mb(f.file), mb(f.used), mb(f.live), 100*float64(f.live)/float64(f.file))
	for _, name := range allBuckets {
		b := f.buckets[string(name)]
		if b[1] > 0 {
			t.Logf("  %-8s live %s in pages of %s (%.0f%%)", name, mb(b[0]), mb(b[1]), 100*float64(b[0])/float64(b[1]))
		}
	}
}

// TestScale measures the state file of many uploaded jobs, as the agent
// leaves them, then compacts it. It takes minutes at a million jobs, so it
// runs only when VELA_SCALE_JOBS lists the sizes, such as 100000,1000000;
// VELA_SCALE_BURSTS=1 fills with fillBursts instead of fillUploaded, and
// VELA_SCALE_RANDOM=1 names the files at random (see uploadPath).
func TestScale(t *testing.T) {
	env := os.Getenv("VELA_SCALE_JOBS")
	if env == "" {
		t.Skip("set VELA_SCALE_JOBS=100000,1000000 to measure")
	}
	fill := fillUploaded
	if os.Getenv("VELA_SCALE_BURSTS") != "" {
		fill = fillBursts
	}
	if os.Getenv("VELA_SCALE_RANDOM") != "" {
		randomNames = true
		defer func() { randomNames = false }()
	}
	for _, v := range strings.Split(env, ",") {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("VELA_SCALE_JOBS: %q is not a number of jobs", v)
		}
		t.Run(v, func(t *testing.T) {
			s, err := Open(testPath(t), Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			start := time.Now()
			fill(t, s, "calls", 0, n, 3000, 4)
			t.Logf("filled in %v", time.Since(start).Round(time.Millisecond))
			measureScale(t, s).log(t, "uploaded", n)
			start = time.Now()
			need, sp, err := s.NeedsCompact()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("NeedsCompact() = %v, %+v in %v", need, sp, time.Since(start).Round(time.Millisecond))
			rep, err := s.Compact(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("Compact() = %+v", rep)
			measureScale(t, s).log(t, "compacted", n)
			if err := s.Check(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
