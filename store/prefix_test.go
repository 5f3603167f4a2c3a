package store

import "testing"

func TestActiveUnder(t *testing.T) {
	s := openTest(t, newClock())
	zip := addZip(t, s, "bulk.zip")
	if _, err := s.Expand(zip, recordings("bulk.zip", 5)); err != nil {
		t.Fatal(err)
	}
	// Neighbours that share the prefix's first bytes are not under it.
	mustAdd(t, s, found("bulk.zip.old/rec.wav", 10), found("bulk.zipper", 10), found("bulk.zi", 10))
	count := func() int {
		t.Helper()
		n, err := s.ActiveUnder("rec", "bulk.zip/")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 5 {
		t.Fatalf("ActiveUnder = %d, want the 5 recordings", n)
	}
	children, err := s.Children(zip)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range children[:3] {
		c = claimID(t, s, c.ID)
		moveTo(t, s, c, []State{Done, Skipped, Parked}[i])
		if err := s.Release(c); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(); n != 2 {
		t.Errorf("ActiveUnder = %d after 3 finished, want 2", n)
	}
	// A newer version of the ZIP whose expansion knew the recordings
	// already: they are not its children, but still under its path.
	f := found("bulk.zip", 2000)
	f.Kind = Zip
	mustAdd(t, s, f)
	newer, err := s.Latest("rec", "bulk.zip")
	if err != nil {
		t.Fatal(err)
	}
	if added, err := s.Expand(newer.ID, recordings("bulk.zip", 5)); err != nil || added != 0 {
		t.Fatalf("Expand of the newer version = %d, %v", added, err)
	}
	if left, err := s.ChildrenLeft(newer.ID); err != nil || left != 0 {
		t.Fatalf("ChildrenLeft(newer) = %d, %v", left, err)
	}
	if n := count(); n != 2 {
		t.Errorf("ActiveUnder = %d for the newer version, want 2", n)
	}
	if n, err := s.ActiveUnder("other", "bulk.zip/"); err != nil || n != 0 {
		t.Errorf("ActiveUnder of another source = %d, %v", n, err)
	}
}
