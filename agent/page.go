package agent

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/vela-agent/vela-agent/store"
)

// The status page: one HTML page on the loopback listener's "/", made on
// the server from Status with html/template. It has no script and loads
// nothing else; it refreshes itself every pageRefresh seconds.

//go:embed page.html
var pageHTML string

// pageRefresh is how often, in seconds, the page reloads itself.
const pageRefresh = 5

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"bytes": formatBytes,
	"when":  func(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05") },
}).Parse(pageHTML))

// page is what page.html is executed with.
type page struct {
	*Status
	Now      time.Time
	Refresh  int
	Level    string // ok, paused or attention: the headline's colour
	Headline string
	Detail   string // one line under the headline
	Gates    []pageGate
	Others   []string // Problems but those of the gates, which Gates shows
	Active   []pageTransfer
	Counts   []pageCount
	Sources  []pageSource
}

type pageGate struct {
	store.Gate
	Lane string // what the gate holds, in words
	Todo string // what an admin can do about it, in a few words
	Note string // and at more length
	For  string // how long it has been closed
}

type pageTransfer struct {
	Transfer
	Percent int // 0..100; -1 when the size is unknown
	For     string
}

type pageCount struct {
	State string
	N     int
}

type pageSource struct {
	SourceStatus
	LastScan string // the latest scan or poll in words, "" before the first
}

// gateWords says what a closed gate holds and what an admin can do.
func gateWords(name string) (lane, todo, note string) {
	switch name {
	case GateCalls:
		return "call uploads",
			"ask Vela for more minutes; uploads resume by themselves",
			"Nothing needs fixing on this machine: the organisation's monthly call minutes are used up. " +
				"The queue is kept, and call uploads resume by themselves once the organisation has minutes again (checked every api.allocation_recheck)."
	case GateChats:
		return "chat uploads",
			"ask Vela for more chats; uploads resume by themselves",
			"Nothing needs fixing on this machine: the organisation's monthly chat allocation is used up. " +
				"Calls go on. The queue is kept, and a chat is tried again every api.allocation_recheck until Vela takes chats again."
	case GateAll:
		return "everything that talks to Vela",
			"fix what the reason says; the agent resumes by itself",
			"Run `vela-agent login`, or correct api.org_id, api.base_url or the credentials in the config file and save it, as the reason says. " +
				"The agent keeps checking and resumes by itself; the queue is kept."
	}
	return "uploads (" + name + ")", "see the reason", "The queue is kept."
}

// newPage works out the headline and the figures the page shows.
func newPage(st *Status, now time.Time) *page {
	p := &page{Status: st, Now: now, Refresh: pageRefresh}
	for _, s := range store.States {
		p.Counts = append(p.Counts, pageCount{s.String(), st.Counts[s.String()]})
	}
	gateLines := map[string]bool{}
	for _, g := range st.Paused {
		gateLines[GateProblem(g)] = true
		lane, todo, note := gateWords(g.Name)
		p.Gates = append(p.Gates, pageGate{Gate: g, Lane: lane, Todo: todo, Note: note, For: since(now, g.Since)})
	}
	for _, t := range st.Active {
		pct := -1
		if t.Size > 0 {
			pct = int(min(100, max(0, t.Sent*100/t.Size)))
		}
		p.Active = append(p.Active, pageTransfer{Transfer: t, Percent: pct, For: since(now, t.Since)})
	}
	for _, s := range st.Sources {
		ps := pageSource{SourceStatus: s}
		if s.Scans > 0 {
			ps.LastScan = fmt.Sprintf("%d done; the latest took %s and saw %d file(s)",
				s.Scans, (time.Duration(s.LastScanMillis) * time.Millisecond).String(), s.LastScanFiles)
		}
		p.Sources = append(p.Sources, ps)
	}

	for _, pr := range st.Problems {
		if !gateLines[pr] {
			p.Others = append(p.Others, pr)
		}
	}

	pending := 0
	for _, s := range store.States {
		if s.Active() {
			pending += st.Counts[s.String()]
		}
	}
	switch {
	case len(st.Paused) > 0:
		g := p.Gates[0]
		p.Level = "paused"
		p.Headline = "Paused: " + oneLine(g.Reason) + " — " + g.Todo
		p.Detail = fmt.Sprintf("%d file(s) waiting.", pending)
		if more := len(p.Gates) - 1 + len(p.Others); more > 0 {
			p.Detail += fmt.Sprintf(" %d more problem(s) below.", more)
		}
	case len(st.Problems) > 0:
		p.Level = "attention"
		p.Headline = "Needs attention: " + oneLine(st.Problems[0])
		if more := len(st.Problems) - 1; more > 0 {
			p.Detail = fmt.Sprintf("%d more problem(s) below.", more)
		}
	case len(st.Active) > 0 || pending > 0:
		p.Level = "ok"
		p.Headline = "Uploading"
		p.Detail = fmt.Sprintf("%d in flight, %d waiting.", len(st.Active), max(0, pending-len(st.Active)))
	default:
		p.Level = "ok"
		p.Headline = "Uploading"
		p.Detail = "Up to date: nothing waiting, watching for new files."
	}
	if n := st.Counts[store.Parked.String()]; n > 0 {
		p.Detail += fmt.Sprintf(" %d file(s) parked: see below.", n)
	}
	return p
}

// RenderPage writes the status page for st, as seen at now.
func RenderPage(w io.Writer, st *Status, now time.Time) error {
	return pageTemplate.Execute(w, newPage(st, now))
}

func (a *Agent) servePage(w http.ResponseWriter, r *http.Request) {
	st, err := a.Status()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	var b bytes.Buffer
	if err := RenderPage(&b, st, a.now()); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	// The page runs no script and loads nothing: say so, so that a name
	// that got past escaping still could not run.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	w.Write(b.Bytes())
}

// since says how long ago t was, in whole seconds, minutes, hours or days.
func since(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", max(0, int(d.Seconds())))
	case d < time.Hour:
		return fmt.Sprintf("%dm %ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// formatBytes writes n in B, KB, MB, GB or TB (powers of 1000).
func formatBytes(n int64) string {
	if n < 1000 {
		return fmt.Sprintf("%d B", n)
	}
	f := float64(n)
	for _, u := range []string{"KB", "MB", "GB", "TB"} {
		f /= 1000
		if f < 1000 || u == "TB" {
			return fmt.Sprintf("%.1f %s", f, u)
		}
	}
	return ""
}

// oneLine folds s onto one line, whatever a name in it holds.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
