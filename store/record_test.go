package store

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

func fullJob() *Job {
	return &Job{
		ID:          42,
		Source:      "pbx",
		Path:        "2025/03/agent_20250301-101500.wav",
		Size:        123456789,
		ModTime:     t0.Add(-time.Hour),
		SHA256:      "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		Kind:        Zip,
		State:       Presigned,
		Attempts:    3,
		NextAttempt: t0.Add(time.Minute),
		LastError:   "presign: 503 Service Unavailable",
		Reason:      "",
		Meta:        []byte(`{"agent_name":"Thandi","direction":"inbound"}`),
		Spool:       "/var/lib/vela-agent/spool/42",
		Warnings:    []string{`metadata.csv row 3: team "" dropped`, "sidecar: unknown key colour"},
		Ref:         "chat-7f3a",
		Presign: &Presign{
			URL: "https://bucket.s3.amazonaws.com/",
			Fields: []Field{
				{"key", "uploads/42.wav"},
				{"policy", "eyJ..."},
				{"x-amz-signature", "abc"},
			},
			Expires: t0.Add(time.Hour),
		},
		Parent:  7,
		Created: t0,
		Updated: t0.Add(time.Second),
	}
}

// sameJob compares jobs field by field, times by instant.
func sameJob(t *testing.T, got, want *Job) {
	t.Helper()
	g, w := *got, *want
	for _, tp := range []struct{ g, w *time.Time }{
		{&g.ModTime, &w.ModTime}, {&g.NextAttempt, &w.NextAttempt}, {&g.Created, &w.Created}, {&g.Updated, &w.Updated},
	} {
		if !tp.g.Equal(*tp.w) {
			t.Errorf("time %v, want %v", *tp.g, *tp.w)
		}
		*tp.g, *tp.w = time.Time{}, time.Time{}
	}
	if g.Presign != nil && w.Presign != nil {
		gp, wp := *g.Presign, *w.Presign
		if !gp.Expires.Equal(wp.Expires) {
			t.Errorf("presign expires %v, want %v", gp.Expires, wp.Expires)
		}
		gp.Expires, wp.Expires = time.Time{}, time.Time{}
		g.Presign, w.Presign = &gp, &wp
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("job\n got %+v\nwant %+v", g, w)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		job  *Job
	}{
		{"minimal", &Job{ID: 1, Source: "s", Path: "a.wav", Kind: Call, State: Queued}},
		{"full", fullJob()},
		{"presign without fields", &Job{ID: 2, Source: "s", Path: "b.wav", State: Presigned, Presign: &Presign{URL: "u"}}},
		{"negative size and old times", &Job{ID: 3, Source: "s", Path: "c", State: Parked, Size: -1, ModTime: time.Unix(-5, 0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := encodeJob(tc.job)
			got, err := decodeJob(tc.job.ID, rec)
			if err != nil {
				t.Fatal(err)
			}
			sameJob(t, got, tc.job)
		})
	}
}

func TestRecordIsCompact(t *testing.T) {
	j := &Job{Source: "recordings", Path: "2025/03/agent_20250301-101500.wav", Size: 4 << 20,
		ModTime: t0, Kind: Call, State: Queued, NextAttempt: t0, Created: t0, Updated: t0}
	if n := len(encodeJob(j)); n > 80 {
		t.Errorf("a new job's record has %d bytes, want at most 80", n)
	}
}

func TestDecodeCorrupt(t *testing.T) {
	full := encodeJob(fullJob())
	cases := map[string][]byte{
		"empty":           {},
		"unknown version": append([]byte{9}, full[1:]...),
		"trailing bytes":  append(append([]byte(nil), full...), 0),
		"bad state":       encodeJob(&Job{Source: "s", Path: "p", State: 0}),
		"bad kind":        encodeJob(&Job{Source: "s", Path: "p", State: Queued, Kind: 9}),
		"huge string":     {recordV1, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"huge field count": func() []byte {
			j := &Job{Source: "s", Path: "p", State: Ready, Presign: &Presign{URL: "u"}}
			b := encodeJob(j)
			// The record ends: count, Expires, Parent, one byte each here.
			b[len(b)-3] = 0x7f
			return b
		}(),
	}
	// Every strict prefix of a good record is damaged.
	for i := range full {
		cases[fmt.Sprintf("prefix of %d bytes", i)] = full[:i]
	}
	for name, b := range cases {
		j, err := decodeJob(7, b)
		if err == nil {
			t.Errorf("%s: decoded %+v", name, j)
			continue
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: error %v does not wrap ErrCorrupt", name, err)
		}
	}
}

func FuzzDecodeJob(f *testing.F) {
	f.Add(encodeJob(fullJob()))
	f.Add(encodeJob(&Job{Source: "s", Path: "p", State: Queued}))
	f.Add([]byte{recordV1})
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := decodeJob(1, b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		again, err := decodeJob(1, encodeJob(j))
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		sameJob(t, again, j)
	})
}

func TestGateRecord(t *testing.T) {
	g := Gate{Name: "calls", Reason: "Allocation exceeded", Since: t0}
	got, err := decodeGate("calls", encodeGate(g))
	if err != nil || got.Reason != g.Reason || !got.Since.Equal(g.Since) {
		t.Fatalf("decodeGate = %+v, %v", got, err)
	}
	for _, b := range [][]byte{nil, {2}, {gateV1, 5, 'a'}, append(encodeGate(g), 0)} {
		if _, err := decodeGate("x", b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("decodeGate(%v): err = %v, want ErrCorrupt", b, err)
		}
	}
}
