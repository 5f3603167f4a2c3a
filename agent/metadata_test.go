package agent_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vela-agent/vela-agent/agent"
	"github.com/vela-agent/vela-agent/agent/config"
	"github.com/vela-agent/vela-agent/agent/meta"
	"github.com/vela-agent/vela-agent/agent/meta/audio/audiotest"
)

// metaCorpus is a folder of calls described in every way the metadata
// rules read, with the exact metadata each must arrive with (by the
// fileName Vela is given).
type metaCorpus struct {
	t    *testing.T
	want map[string]map[string]any
	n    int
}

// call writes a recording at abs with the given mtime and records what
// Vela must receive for it.
func (c *metaCorpus) call(abs string, mtime time.Time, want map[string]any) {
	c.t.Helper()
	c.n++
	must(c.t, os.MkdirAll(filepath.Dir(abs), 0o755))
	must(c.t, os.WriteFile(abs, audiotest.WAV(2000+c.n, byte(c.n)), 0o644))
	must(c.t, os.Chtimes(abs, mtime, mtime))
	base := filepath.Base(abs)
	ext := filepath.Ext(base)
	name := strings.TrimSuffix(base, ext) + strings.ToLower(ext)
	if _, dup := c.want[name]; dup {
		c.t.Fatalf("corpus names %s twice", name)
	}
	c.want[name] = want
}

func writeText(t *testing.T, abs, text string) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(abs), 0o755))
	must(t, os.WriteFile(abs, []byte(text), 0o644))
}

// TestMetadataEndToEnd sends calls named, listed and described in all the
// shapes customers have through the emulator, and checks that Vela gets
// exactly the expected fields for each, and never a bad value.
func TestMetadataEndToEnd(t *testing.T) {
	dir := t.TempDir()
	london, newYork := filepath.Join(dir, "london"), filepath.Join(dir, "newyork")
	h := newHarness(t, harnessOptions{
		source: "  - name: london\n    path: " + london + "\n    settle: 300ms\n    rescan_interval: 1s\n" +
			"    metadata: {timezone: Europe/London, defaults: {department: UK}}\n" +
			"  - name: newyork\n    path: " + newYork + "\n    settle: 300ms\n    rescan_interval: 1s\n" +
			"    metadata: {timezone: America/New_York, date_order: MDY, defaults: {department: US, team: Stateside}}\n",
		upload: "metadata:\n" +
			"  defaults: {team: Support}\n" +
			`  filename_pattern: '^(?P<agent_name>[^_]+)_(?P<date_of_call>\d{8}-\d{6})_(?P<direction>[A-Za-z]+)\.'` + "\n" +
			`  date_layouts: ["20060102-150405"]` + "\n" +
			`  columns: {"Call Start": date_of_call, " CUSTOMER NUMBER ": contact}` + "\n",
	})
	jhb, _ := time.LoadLocation("Africa/Johannesburg")
	mtime := time.Date(2025, 2, 14, 9, 30, 0, 0, time.UTC)
	mdate := meta.FormatDate(mtime)
	c := &metaCorpus{t: t, want: map[string]map[string]any{}}

	// File-name patterns in three zones. Johannesburg first, in the
	// default source: direction in any case, one that is not valid.
	for i := range 10 {
		dirn, sent := "inbound", "inbound"
		switch i % 3 {
		case 1:
			dirn, sent = "OUTBOUND", "outbound"
		case 2:
			dirn, sent = "sideways", ""
		}
		at := time.Date(2025, 6, 10+i, 8+i, 15, 30, 0, jhb)
		want := map[string]any{"agent_name": fmt.Sprintf("Agent %d", i), "team": "Support", "date_of_call": meta.FormatDate(at)}
		if sent != "" {
			want["direction"] = sent
		}
		c.call(filepath.Join(h.in, "pattern", fmt.Sprintf("Agent %d_%s_%s.wav", i, at.Format("20060102-150405"), dirn)), mtime, want)
	}
	// London: the clocks change on 30 March and 26 October 2025; a call
	// late on 1 March is 2 March in Johannesburg.
	for _, tc := range []struct{ stamp, dirn, date string }{
		{"20250330-003000", "inbound", "30/03/2025, 02:30:00"},  // GMT, before the change
		{"20250330-013000", "outbound", "30/03/2025, 03:30:00"}, // in the gap: read as 02:30 BST
		{"20250330-023000", "inbound", "30/03/2025, 03:30:00"},  // BST
		{"20251026-013000", "inbound", "26/10/2025, 03:30:00"},  // twice that night: the later (GMT)
		{"20250301-233000", "inbound", "02/03/2025, 01:30:00"},  // midnight crossing
		{"20250715-120000", "outbound", "15/07/2025, 13:00:00"}, // summer
	} {
		c.call(filepath.Join(london, "Amy Pond_"+tc.stamp+"_"+tc.dirn+".wav"), mtime,
			map[string]any{"agent_name": "Amy Pond", "direction": tc.dirn, "team": "Support", "department": "UK", "date_of_call": tc.date})
	}
	// New York: 9 March and 2 November 2025.
	for _, tc := range []struct{ stamp, date string }{
		{"20250309-013000", "09/03/2025, 08:30:00"}, // EST
		{"20250309-023000", "09/03/2025, 08:30:00"}, // in the gap: read as 01:30 EST
		{"20250309-033000", "09/03/2025, 09:30:00"}, // EDT
		{"20251102-013000", "02/11/2025, 07:30:00"}, // twice that night: the earlier (EDT)
		{"20250101-220000", "02/01/2025, 05:00:00"}, // midnight crossing
		{"20250704-235959", "05/07/2025, 05:59:59"},
	} {
		c.call(filepath.Join(newYork, "Rory Williams_"+tc.stamp+"_Inbound.wav"), mtime,
			map[string]any{"agent_name": "Rory Williams", "direction": "inbound", "team": "Stateside", "department": "US", "date_of_call": tc.date})
	}

	// A manifest as Excel's "CSV UTF-8" writes it: BOM, CRLF, quoted
	// fields with commas, messy headers; a column mapped by columns; one
	// row naming its file in another case, one with a date no rule can
	// read, one with a bad e-mail, one for a file that never comes.
	csv := "\ufeff  File Name ,Agent_Name,TEAM,Call Start,Tags,Direction, Customer Number ,email\r\n"
	for i := range 10 {
		name := fmt.Sprintf("excel_%02d.wav", i)
		at := time.Date(2025, 3, 1+i, 10, 15, 0, 0, jhb)
		start, email := at.Format("2006-01-02 15:04:05"), fmt.Sprintf("agent%d@example.co.za", i)
		want := map[string]any{"agent_name": fmt.Sprintf("Nkosi, Thandi %d", i), "team": "Sales", "tags": []any{"vip", "billing"},
			"direction": "inbound", "contact": fmt.Sprintf("082123456%d", i), "email": email, "date_of_call": meta.FormatDate(at)}
		rowName := name
		switch i {
		case 3:
			rowName = strings.ToUpper(name) // matched case-insensitively
		case 5:
			start = "31/02/2025 10:00" // day-first and no date_order: never guessed
			want["date_of_call"] = mdate
		case 6:
			email = "agent6-at-example.co.za"
			delete(want, "email")
		}
		csv += fmt.Sprintf("%s,\"Nkosi, Thandi %d\",Sales,%s,\"vip; billing\",Inbound,%s,%s\r\n", rowName, i, start, want["contact"], email)
		c.call(filepath.Join(h.in, "excel", name), mtime, want)
	}
	csv += "ghost.wav,Nobody,Sales,2025-03-01 10:00:00,,,,\r\n"
	writeText(t, filepath.Join(h.in, "excel", "metadata.csv"), csv)

	// A TSV with dates carrying their offset, tags on the separator.
	tsv := "filename\tagent_name\tdate_of_call\ttags\tnotifyEmail\n"
	for i := range 10 {
		name := fmt.Sprintf("tsv_%02d.wav", i)
		at := time.Date(2025, 4, 1+i, 9, 0, 0, 0, time.FixedZone("", 3600))
		tsv += fmt.Sprintf("%s\tLerato %d\t%s\tqa;  escalated \tqa@example.com\n", name, i, at.Format(time.RFC3339))
		c.call(filepath.Join(h.in, "tsv", name), mtime, map[string]any{"agent_name": fmt.Sprintf("Lerato %d", i), "team": "Support",
			"tags": []any{"qa", "escalated"}, "notifyEmail": "qa@example.com", "date_of_call": meta.FormatDate(at)})
	}
	writeText(t, filepath.Join(h.in, "tsv", "metadata.tsv"), tsv)

	// A JSON manifest: epoch dates, a tag string is one tag, a contact
	// number as a number.
	var entries []map[string]any
	for i := range 10 {
		name := fmt.Sprintf("json_%02d.wav", i)
		at := time.Date(2025, 5, 1+i, 14, 0, 0, 0, time.UTC)
		entries = append(entries, map[string]any{"filename": name, "agent_name": fmt.Sprintf("Sipho %d", i),
			"date_of_call": at.Unix(), "tags": "vip;gold", "contact": int64(27821234560) + int64(i), "interaction_id": fmt.Sprintf("J-%d", i)})
		c.call(filepath.Join(h.in, "json", name), mtime, map[string]any{"agent_name": fmt.Sprintf("Sipho %d", i), "team": "Support",
			"tags": []any{"vip;gold"}, "contact": fmt.Sprint(int64(27821234560) + int64(i)), "interaction_id": fmt.Sprintf("J-%d", i), "date_of_call": meta.FormatDate(at)})
	}
	b, err := json.Marshal(entries)
	must(t, err)
	writeText(t, filepath.Join(h.in, "json", "metadata.json"), string(b))

	// Sidecars, over a manifest row and the pattern.
	side := "filename,agent_name,team\n"
	for i := range 10 {
		at := time.Date(2025, 7, 1, 8, i, 0, 0, jhb)
		name := fmt.Sprintf("Pattern Name_%s_inbound.wav", at.Add(time.Hour).Format("20060102-150405"))
		side += name + ",Row Name,Row Team\n"
		sidecar := fmt.Sprintf(`{"agent": "lerato%d@example.com", "interaction_id": "INT-%d", "date_of_call": %q, "team": "Sidecar Team"}`, i, i, at.UTC().Format(time.RFC3339))
		writeText(t, filepath.Join(h.in, "sidecar", strings.TrimSuffix(name, ".wav")+".json"), sidecar)
		c.call(filepath.Join(h.in, "sidecar", name), mtime, map[string]any{"agent_name": "Row Name", "team": "Sidecar Team", "direction": "inbound",
			"email": fmt.Sprintf("lerato%d@example.com", i), "interaction_id": fmt.Sprintf("INT-%d", i), "date_of_call": meta.FormatDate(at)})
	}
	writeText(t, filepath.Join(h.in, "sidecar", "metadata.csv"), side)

	// Nothing but the file's time, and upper-case names.
	for i := range 10 {
		at := mtime.Add(time.Duration(i) * time.Hour)
		c.call(filepath.Join(h.in, "plain", fmt.Sprintf("CALL_%02d.WAV", i)), at, map[string]any{"team": "Support", "date_of_call": meta.FormatDate(at)})
	}
	if c.n < 60 {
		t.Fatalf("corpus has %d calls, want at least 60", c.n)
	}

	// explain tells, before anything is sent, which rule set each field.
	cfg, err := config.Load(h.cfgFile)
	must(t, err)
	ex := agent.Explain(cfg, []string{filepath.Join(h.in, "excel", "excel_05.wav"), filepath.Join(h.in, "sidecar", "metadata.csv")})
	if e := ex[0]; e.Outcome != "upload" || e.Fields["agent_name"].From != "excel/metadata.csv row 7" ||
		e.Fields["date_of_call"].From != "file modification time" || e.Fields["team"].From != "excel/metadata.csv row 7" ||
		len(e.Warnings) != 1 || !strings.Contains(e.Warnings[0], `"31/02/2025 10:00"`) {
		t.Errorf("explain excel_05.wav: %+v", e)
	}
	if e := ex[1]; e.Kind != "manifest" || e.Rows != 10 {
		t.Errorf("explain metadata.csv: %+v", e)
	}

	h.start()
	h.waitFor(fmt.Sprintf("%d calls done", c.n), 60*time.Second, func() bool { return h.count("done") >= c.n+4 }) // and 4 manifests

	got := map[string]map[string]any{}
	for _, p := range h.srv.Presigns() {
		if _, dup := got[p.FileName]; dup {
			t.Errorf("%s presigned twice", p.FileName)
		}
		got[p.FileName] = p.Metadata
	}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range c.want {
			if !yield(k) {
				return
			}
		}
	}) {
		if !reflect.DeepEqual(got[name], c.want[name]) {
			t.Errorf("%s:\n got %v\nwant %v", name, got[name], c.want[name])
		}
	}
	if len(got) != len(c.want) {
		t.Errorf("%d calls presigned, want %d", len(got), len(c.want))
	}

	// The warnings are in status, and on the jobs.
	st, err := h.agent.Status()
	must(t, err)
	var warned []string
	for _, w := range st.MetaWarnings {
		warned = append(warned, w.File+": "+w.Error)
	}
	all := strings.Join(warned, "\n")
	for _, want := range []string{
		`excel/excel_05.wav: excel/metadata.csv row 7: date "31/02/2025 10:00"`,
		`excel/excel_06.wav: excel/metadata.csv row 8: email "agent6-at-example.co.za" is not an e-mail address; not sent`,
		`pattern/Agent 2_`,
		`excel/metadata.csv: 1 row names a file that is not in the folder (yet): "ghost.wav"`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("status warnings lack %q:\n%s", want, all)
		}
	}
	var page strings.Builder
	must(t, agent.RenderPage(&page, st, time.Now()))
	if !strings.Contains(page.String(), "Metadata warnings") || !strings.Contains(page.String(), "agent6-at-example.co.za") {
		t.Error("the status page does not list the metadata warnings")
	}
}

// TestAudioPolicy: a call shorter than upload.min_duration is skipped, a
// .wav holding text is parked, and other formats are skipped, each with
// its reason; a long enough call goes.
func TestAudioPolicy(t *testing.T) {
	h := newHarness(t, harnessOptions{upload: "  min_duration: 10s\n", source: "    include: ['*']\n"})
	const second = 8000 * 2 // bytes of audiotest's 8 kHz 16-bit mono
	files := map[string][]byte{
		"short.wav": audiotest.WAV(audiotest.HeaderLen+3*second, 1),
		"long.wav":  audiotest.WAV(audiotest.HeaderLen+12*second, 2),
		"text.wav":  []byte(strings.Repeat("this is not a recording\n", 100)),
		"music.ogg": audiotest.WAV(audiotest.HeaderLen+12*second, 3),
		"mp3.wav":   audiotest.MP3(1000),
	}
	for name, data := range files {
		must(t, os.WriteFile(filepath.Join(h.in, name), data, 0o644))
	}
	h.start()
	h.waitFor("all five ended", 30*time.Second, func() bool {
		return h.count("done")+h.count("skipped")+h.count("parked") == len(files)
	})
	want := map[string]string{
		"short.wav": "skipped: call is 3s long, shorter than upload.min_duration (10s)",
		"long.wav":  "done: ",
		"text.wav":  "parked: named .wav but holds text, not audio",
		"music.ogg": `skipped: ".ogg" is not a format Vela takes (WAV, MP3, M4A or FLAC)`,
		"mp3.wav":   "parked: named .wav but holds MP3 audio; rename it so that Vela reads it right",
	}
	for name, w := range want {
		var got string
		for id := uint64(1); id <= uint64(len(files)); id++ {
			if j, err := h.agent.Job(id); err == nil && j.Path == name {
				got = j.State.String() + ": " + j.Reason
			}
		}
		if got != w {
			t.Errorf("%s: %q, want %q", name, got, w)
		}
	}
}

// TestManifestWait: with metadata.manifest_wait a call waits for the
// manifest row naming it, and goes with what is known once the wait is
// over.
func TestManifestWait(t *testing.T) {
	h := newHarness(t, harnessOptions{upload: "metadata:\n  manifest_wait: 3s\n  defaults: {team: Support}\n"})
	must(t, os.WriteFile(filepath.Join(h.in, "early.wav"), audiotest.WAV(3000, 1), 0o644))
	must(t, os.WriteFile(filepath.Join(h.in, "unlisted.wav"), audiotest.WAV(3000, 2), 0o644))
	h.start()
	h.waitFor("both calls waiting for their row", 20*time.Second, func() bool {
		waiting := 0
		for id := uint64(1); id <= 2; id++ {
			if j, err := h.agent.Job(id); err == nil && strings.Contains(j.LastError, "waiting up to metadata.manifest_wait") {
				waiting++
			}
		}
		return waiting == 2
	})
	if n := len(h.srv.Presigns()); n != 0 {
		t.Fatalf("%d calls presigned before their manifest", n)
	}
	writeText(t, filepath.Join(h.in, "metadata.csv"), "filename,agent_name\nearly.wav,Thandi\n")
	h.waitFor("both calls and the manifest done", 20*time.Second, func() bool { return h.count("done") == 3 })
	got := map[string]map[string]any{}
	for _, p := range h.srv.Presigns() {
		got[p.FileName] = p.Metadata
		delete(p.Metadata, "date_of_call")
	}
	if want := map[string]any{"team": "Support", "agent_name": "Thandi"}; !reflect.DeepEqual(got["early.wav"], want) {
		t.Errorf("early.wav: %v, want %v", got["early.wav"], want)
	}
	if want := map[string]any{"team": "Support"}; !reflect.DeepEqual(got["unlisted.wav"], want) {
		t.Errorf("unlisted.wav: %v, want %v", got["unlisted.wav"], want)
	}
	st, err := h.agent.Status()
	must(t, err)
	found := false
	for _, w := range st.MetaWarnings {
		found = found || w.File == "unlisted.wav" && strings.Contains(w.Error, "no manifest row names the file after metadata.manifest_wait (3s)")
	}
	if !found {
		t.Errorf("no warning for unlisted.wav: %+v", st.MetaWarnings)
	}
}
