package watcher

import (
	"encoding/binary"
	"hash/maphash"
	"strings"
	"time"
)

// The watcher's memory of a tree is kept folder by folder (dir). A file
// still settling (seen, not yet offered) has a settling entry, with its name
// as a string. A file offered, or reported by Options.Known, leaves only a
// record of 8 bytes in its folder's offered set, 9 to 13.3 bytes with the
// set's free slots: a tree of a million files handed over, in a thousand
// folders, costs 14 MB of heap, folders included.
//
// A record is 64 bits: key (32 bits), fingerprint (31 bits), mark (1 bit).
// With h = maphash(name) under a seed drawn afresh by each Run, the key is
// the high half of h and the fingerprint is 31 bits of a second maphash of
// h, size and modification time. Names are hashed without their folder:
// records are only compared within a folder.
//
// Collisions, and why none can hide a file that matters:
//   - A file is taken as offered only when a record of its folder matches
//     both its key and its fingerprint: 63 bits that depend on its name and
//     on its version. A file never offered, or a new version of one, is
//     hidden only if some record of the same folder happens to match those
//     63 bits: for a folder of n records, a chance of at most n/2^63 a
//     lookup, 1 in 9,000,000,000,000 for a folder of a million files. Even
//     a million new files a year in such a folder give about one chance in
//     nine million of hiding one in a year; the seed changes with each Run,
//     so no collision outlives a restart.
//   - Two names of a folder may share a key (likely in a folder of 100,000
//     files or more): their records are both kept, side by side, and
//     lookups compare the fingerprint too. Dropping a path's records (it
//     vanished, changed under an event, or was passed to Forget) drops
//     every record of its key: a namesake dropped with it is merely offered
//     again once settled, and the store's seen index takes it for the
//     version it already has.
//   - The same name and version always give the same record, so a file
//     offered is never offered again in the same version by mistake, except
//     for such a drop.

// offered is an open-addressing hash set of records with linear probing.
// Slot 0 means empty: a key is never 0. Its capacity need not be a power
// of two: a key's home slot is key*len/2^32.
type offered struct {
	slots []uint64
	n     int // records held
	seen  int // records marked (seen by the folder's current or latest read)
}

const (
	markBit = 1
	fpMask  = 1<<31 - 1
	// loadMax and loadNew bound the share of slots in use: a set grows
	// when it would pass loadMax, to loadNew, so a record takes from
	// 8/loadMax to 8/loadNew bytes (9.1 to 13.3).
	loadMax  = 0.875
	loadNew  = 0.6
	minSlots = 8
)

func record(k, fp uint32) uint64 { return uint64(k)<<32 | uint64(fp&fpMask)<<1 }

func (s *offered) home(k uint32) int { return int(uint64(k) * uint64(len(s.slots)) >> 32) }

func (s *offered) next(i int) int {
	if i++; i == len(s.slots) {
		return 0
	}
	return i
}

// find returns the slot of the record (k, fp), or -1.
func (s *offered) find(k, fp uint32) int {
	if s.n == 0 {
		return -1
	}
	want := record(k, fp)
	for i := s.home(k); s.slots[i] != 0; i = s.next(i) {
		if s.slots[i]&^markBit == want {
			return i
		}
	}
	return -1
}

// mark notes that the record in slot i was seen by the current read.
func (s *offered) mark(i int) {
	if s.slots[i]&markBit == 0 {
		s.slots[i] |= markBit
		s.seen++
	}
}

// add inserts the record (k, fp), marked seen. It must not be there yet.
func (s *offered) add(k, fp uint32) {
	if float64(s.n+1) > loadMax*float64(len(s.slots)) {
		s.resize(s.n + 1)
	}
	s.put(record(k, fp) | markBit)
	s.n++
	s.seen++
}

// put places rec in the first free slot from its home.
func (s *offered) put(rec uint64) {
	i := s.home(uint32(rec >> 32))
	for s.slots[i] != 0 {
		i = s.next(i)
	}
	s.slots[i] = rec
}

// resize rebuilds the set with room for n records at loadNew.
func (s *offered) resize(n int) {
	old := s.slots
	s.slots = make([]uint64, max(minSlots, int(float64(n)/loadNew)+1))
	for _, rec := range old {
		if rec != 0 {
			s.put(rec)
		}
	}
}

// dropKey removes every record of key k and reports how many there were.
func (s *offered) dropKey(k uint32) int {
	if s.n == 0 {
		return 0
	}
	dropped := 0
	for i := s.home(k); s.slots[i] != 0; {
		if uint32(s.slots[i]>>32) == k {
			s.remove(i) // slot i now holds the next record of the run, if any
			dropped++
			continue
		}
		i = s.next(i)
	}
	return dropped
}

// remove empties slot i and moves back the records after it that would no
// longer be found (backward-shift deletion: the set never holds tombstones).
func (s *offered) remove(i int) {
	if s.slots[i]&markBit != 0 {
		s.seen--
	}
	s.n--
	size := len(s.slots)
	for j := s.next(i); s.slots[j] != 0; j = s.next(j) {
		h := s.home(uint32(s.slots[j] >> 32))
		// The record at j may fill the hole at i if its home is not in
		// (i, j], cyclically.
		if (j-h+size)%size >= (j-i+size)%size {
			s.slots[i] = s.slots[j]
			i = j
		}
	}
	s.slots[i] = 0
}

// startRead clears the marks before a read of the folder.
func (s *offered) startRead() {
	if s.seen != 0 {
		for i := range s.slots {
			s.slots[i] &^= markBit
		}
	}
	s.seen = 0
}

// sweep removes the records the read that just ended did not mark: files
// gone, or replaced by another version. It reports how many went.
func (s *offered) sweep() int {
	if s.seen >= s.n {
		return 0
	}
	before := s.n
	for i := 0; i < len(s.slots); {
		if rec := s.slots[i]; rec != 0 && rec&markBit == 0 {
			s.remove(i) // slot i now holds a record moved back, or 0
			continue
		}
		i++
	}
	if s.n == 0 {
		s.slots = nil
	} else if s.n < len(s.slots)/4 && len(s.slots) > minSlots {
		s.resize(s.n)
	}
	return before - s.n
}

// dir is the memory of one folder.
type dir struct {
	rel      string // slash-separated, relative to Root; "." for Root
	gen      uint32 // the full scan that last reached the folder
	reads    uint32 // reads of the folder begun
	files    offered
	settling map[string]*settling // by name; nil when empty
}

// join is the relative path of the file name of d, in a string of its own
// (name may point into a lister's buffer).
func (d *dir) join(name string) string {
	if d.rel == "." {
		return strings.Clone(name)
	}
	return d.rel + "/" + name
}

// settling is a file seen but not offered yet, in the size and modification
// time it had when last observed.
type settling struct {
	dir   *dir
	name  string
	size  int64
	mtime int64         // UnixNano
	seen  time.Duration // when this size and mtime were first observed, since the run started
	read  uint32        // dir.reads of the latest read of the folder that listed it
	gone  bool          // dropped from dir.settling: its pending checks are stale
}

// keys hashes file names and versions into records.
type keys struct{ name, version maphash.Seed }

func newKeys() keys { return keys{maphash.MakeSeed(), maphash.MakeSeed()} }

// of returns the key of name and the fingerprint of name at this version.
func (ks keys) of(name string, size, mtime int64) (k, fp uint32) {
	h := maphash.String(ks.name, name)
	return keyOf(h), ks.fp(h, size, mtime)
}

func keyOf(h uint64) uint32 { return max(uint32(h>>32), 1) }

func (ks keys) fp(h uint64, size, mtime int64) uint32 {
	var b [24]byte
	binary.LittleEndian.PutUint64(b[:], h)
	binary.LittleEndian.PutUint64(b[8:], uint64(size))
	binary.LittleEndian.PutUint64(b[16:], uint64(mtime))
	return uint32(maphash.Bytes(ks.version, b[:])) & fpMask
}

// key returns the key of name alone.
func (ks keys) key(name string) uint32 { return keyOf(maphash.String(ks.name, name)) }
