package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// jobIDs returns the ids of the keys of the jobs bucket.
func jobIDs(keys [][]byte) []uint64 {
	var ids []uint64
	for _, k := range keys {
		ids = append(ids, binary.BigEndian.Uint64(k))
	}
	return ids
}

func TestSalvageDamagedJobsPage(t *testing.T) {
	path := makeFixture(t)
	pages, keys := leafPages(t, path, bucketJobs)
	lostIDs := jobIDs(keys[1])
	overwrite(t, path, int64(pages[1])*pageSize(t, path), bytes.Repeat([]byte{0xff}, 16))
	damaged, _ := os.ReadFile(path)

	out := filepath.Join(t.TempDir(), "salvaged.db")
	rep, err := Salvage(path, out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, damaged) {
		t.Error("Salvage with an output file changed the damaged file")
	}
	lost := make(map[uint64]bool)
	var wantDropped int
	for _, id := range lostIDs {
		lost[id] = true
		if st := fixtureState(id); st.Active() || st == Parked {
			wantDropped++
		}
	}
	// The pruned jobs whose ids fall among those of the lost page may have
	// been lost too, for all the salvage can tell.
	var live int
	var wantUnknown []string
	lo, hi := binary.BigEndian.Uint64(keys[1][0]), binary.BigEndian.Uint64(keys[2][0])
	for id := uint64(1); id <= fixtureJobs; id++ {
		if fixtureState(id) != 0 {
			live++
		} else if id >= lo && id < hi {
			wantUnknown = append(wantUnknown, fmt.Sprintf("rec/2025/03/agent_%04d.wav", id-1))
		}
	}
	if rep.Jobs != live-len(lostIDs) || rep.JobsLost != len(lostIDs) || rep.JobsLostAtLeast {
		t.Errorf("report: %d jobs copied, %d lost (at least %v); want %d and %d", rep.Jobs, rep.JobsLost, rep.JobsLostAtLeast, live-len(lostIDs), len(lostIDs))
	}
	if rep.Seen != fixtureJobs-wantDropped || rep.SeenDropped != wantDropped || rep.SeenRebuilt != 0 || !slices.Equal(rep.Unknown, wantUnknown) {
		t.Errorf("report: seen %d copied, %d dropped, %d rebuilt, unknown %q; want %d copied, %d dropped, unknown %q",
			rep.Seen, rep.SeenDropped, rep.SeenRebuilt, rep.Unknown, fixtureJobs-wantDropped, wantDropped, wantUnknown)
	}
	if rep.Gates != 1 || len(rep.Damage) != 1 || !strings.Contains(rep.Damage[0], `bucket "jobs"`) || !rep.Lost() {
		t.Errorf("report: %d gates, damage %q", rep.Gates, rep.Damage)
	}

	s, err := Open(out, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if w, err := s.Verify(); err != nil || len(w) != 0 {
		t.Errorf("Verify of the salvaged file: %v, %v", w, err)
	}
	for id := uint64(1); id <= fixtureJobs; id++ {
		j, err := s.Get(id)
		switch want := fixtureState(id); {
		case want == 0 || lost[id]:
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("job %d: %v, %v; want it gone", id, j, err)
			}
		case err != nil || j.State != want:
			t.Errorf("job %d: %v, %v; want it %s", id, j, err, want)
		}
	}
	s.Close()

	// Files of lost unfinished jobs are offered again; no other file is.
	s, err = Open(out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var f []Found
	for i := range fixtureJobs {
		f = append(f, found(fmt.Sprintf("2025/03/agent_%04d.wav", i), int64(1000+i)))
	}
	if n := mustAdd(t, s, f...); n != wantDropped {
		t.Errorf("a rescan after salvage added %d jobs, want %d", n, wantDropped)
	}
	j, err := s.Latest("rec", "2025/03/agent_0000.wav")
	if err == nil && j.ID <= fixtureJobs {
		t.Errorf("ids are reused after salvage: a new job has id %d", j.ID)
	}
}

func TestSalvageInPlace(t *testing.T) {
	path := makeFixture(t)
	pages, _ := leafPages(t, path, bucketSeen)
	ps := pageSize(t, path)
	overwrite(t, path, int64(pages[1])*ps, make([]byte, ps))
	damaged, _ := os.ReadFile(path)
	os.Remove(markerPath(path))

	rep, err := Salvage(path, "", Options{Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	if want := path + ".damaged-20250301-120000"; rep.Aside != want || rep.To != path {
		t.Errorf("report: aside %q, to %q; want %q, %q", rep.Aside, rep.To, want, path)
	}
	if kept, _ := os.ReadFile(rep.Aside); !bytes.Equal(kept, damaged) {
		t.Error("the damaged file was not kept as it was")
	}
	if _, err := os.Stat(markerPath(path)); err != nil {
		t.Errorf("no marker after salvage: %v", err)
	}
	if rep.SeenRebuilt == 0 || rep.JobsLost != 0 {
		t.Errorf("report: %d seen entries rebuilt, %d jobs lost", rep.SeenRebuilt, rep.JobsLost)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Verify(); err != nil {
		t.Error(err)
	}
	// Every file with a job is still known: a rescan adds only the files of
	// pruned jobs whose seen entries were on the lost page.
	var f []Found
	for i := range fixtureJobs {
		f = append(f, found(fmt.Sprintf("2025/03/agent_%04d.wav", i), int64(1000+i)))
	}
	added, err := s.Add(f)
	if err != nil {
		t.Fatal(err)
	}
	if added > 10 {
		t.Errorf("a rescan after salvage added %d jobs, want at most the 10 pruned ones", added)
	}
}

func TestSalvageCutFile(t *testing.T) {
	path := makeFixture(t)
	truncate(t, path, fileSize(t, path)/2+100)
	out := filepath.Join(t.TempDir(), "salvaged.db")
	rep, err := Salvage(path, out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Damage) == 0 || !strings.Contains(rep.Damage[0], "cut short") || !rep.Lost() {
		t.Errorf("report: damage %q", rep.Damage)
	}
	s, err := Open(out, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Check(); err != nil {
		t.Error(err)
	}
	t.Logf("from a cut file: %d jobs, %d lost; %d seen", rep.Jobs, rep.JobsLost, rep.Seen)
}

func TestSalvageUnreadable(t *testing.T) {
	path := makeFixture(t)
	overwrite(t, path, 0, bytes.Repeat([]byte{0x5a}, int(2*pageSize(t, path))))
	out := filepath.Join(t.TempDir(), "salvaged.db")
	if _, err := Salvage(path, out, Options{}); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "nothing can be read") {
		t.Errorf("Salvage without a valid meta page: err = %v", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed salvage left its output file")
	}
	if _, err := Salvage(path, path, Options{}); err == nil {
		t.Error("Salvage onto an existing file succeeded")
	}
}
