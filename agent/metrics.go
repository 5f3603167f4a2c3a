package agent

import (
	"fmt"
	"net/http"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vela-agent/vela-agent/store"
)

// The metrics are read from the agent's own figures (Stats, the store's
// counters, the tracker) each time they are gathered: nothing is counted
// twice, and the job counts are the store's. Only the request times are
// kept for them, by the paced wrappers (pace.go).

// Outcomes of a timed request: the label values of the latency histograms.
const (
	outcomeOK    = "ok"
	outcomeError = "error"
)

// timingSpec names a latency histogram and its buckets, in seconds.
type timingSpec struct {
	name, help string
	buckets    []float64
}

var (
	// presignTiming times presign requests to the Vela API: a few
	// milliseconds to the API's timeout.
	presignTiming = timingSpec{
		name:    "vela_agent_presign_duration_seconds",
		help:    "Time of presign requests to the Vela API, by outcome (ok, error). Calls refused by a hold are not requests and are not counted.",
		buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
	}
	// uploadTiming times uploads: a small recording on a fast link to a
	// large one under a bandwidth limit.
	uploadTiming = timingSpec{
		name:    "vela_agent_upload_duration_seconds",
		help:    "Time of uploads to the storage service's presigned POST form, by outcome (ok, error). Calls refused by a hold are not requests and are not counted.",
		buckets: []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600},
	}
)

// timing is the time of the requests made through one paced wrapper, and
// when the last one succeeded.
type timing struct {
	seconds *prometheus.HistogramVec // by outcome
	lastOK  atomic.Int64             // Unix nanoseconds of the last success; 0 before it
}

func newTiming(spec *timingSpec) *timing {
	t := &timing{seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: spec.name, Help: spec.help, Buckets: spec.buckets,
	}, []string{"outcome"})}
	// Both series exist from the start, so that a rate over them is
	// never missing.
	t.seconds.WithLabelValues(outcomeOK)
	t.seconds.WithLabelValues(outcomeError)
	return t
}

// observe records a request sent at sent that ended at end with err. A
// request cut short by the agent stopping (stopping set) is not counted:
// its time says nothing about the remote.
func (t *timing) observe(sent, end time.Time, err error, stopping bool) {
	switch {
	case t == nil: // a pacer made without one (tests)
	case err == nil:
		t.seconds.WithLabelValues(outcomeOK).Observe(end.Sub(sent).Seconds())
		t.lastOK.Store(end.UnixNano())
	case !stopping:
		t.seconds.WithLabelValues(outcomeError).Observe(end.Sub(sent).Seconds())
	}
}

// Remotes, as the metrics label them; the keys of Stats.Pacers.
var remotes = [...]string{"api", "upload"}

// gateNames are the pause gates, the fixed label values of
// vela_agent_paused. The reason is not a label: it is free text, and it is
// on the status page.
var gateNames = [...]string{GateCalls, GateChats, GateAll}

// pools are the worker pools, as vela_agent_workers labels them.
const (
	poolUpload = "upload"
	poolLocal  = "local"
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	descJobs = desc("vela_agent_jobs",
		"Jobs in the state file by state (queued, staged, ready, presigned, uploaded, done, parked, skipped): the store's own counts.", "state")
	descUploadedFiles = desc("vela_agent_uploaded_files_total",
		"Files uploaded since the agent started.")
	descUploadedBytes = desc("vela_agent_uploaded_bytes_total",
		"Bytes of the files uploaded since the agent started.")
	descLastUpload = desc("vela_agent_last_upload_timestamp_seconds",
		"When the storage service last accepted an upload, in seconds since the Unix epoch; absent before the first since the agent started.")
	descRetries = desc("vela_agent_retries_total",
		"Jobs tried again after a transient failure, by cause (presign, upload, file, commit, orphaned, other).", "cause")
	descParked = desc("vela_agent_parked_total",
		"Jobs parked since the agent started (they need an admin), by reason class: too_large, unreadable, refused, gone, changed, empty, link, forgotten, other.", "reason")
	descSkipped = desc("vela_agent_skipped_total",
		"Jobs skipped since the agent started (not to be uploaded), by reason class, as for parked.", "reason")
	descHolds = desc("vela_agent_remote_holds_total",
		"Holds put on all calls to a remote (api, upload): started by its failures, or asked for with Retry-After.", "remote", "cause")
	descHolding = desc("vela_agent_remote_holding",
		"1 while calls to a remote (api, upload) are held, else 0.", "remote")
	descPaused = desc("vela_agent_paused",
		"1 while a pause gate is closed, else 0: calls (the organisation's minutes are used up) or all (credentials or organisation refused). The status page says why.", "gate")
	descScans = desc("vela_agent_source_scans_total",
		"Full scans of a source completed since it was started.", "source")
	descFound = desc("vela_agent_source_files_found_total",
		"Files a source handed over to be queued since it was started.", "source")
	descKnown = desc("vela_agent_source_files_known_total",
		"Files a source found already queued or uploaded in the same version, after a restart, and did not hand over again.", "source")
	descLastScan = desc("vela_agent_source_last_scan_seconds",
		"How long the latest full scan of a source took; 0 before the first.", "source")
	descCommits = desc("vela_agent_state_commits_total",
		"Write transactions committed to the state file.")
	descCommitSeconds = desc("vela_agent_state_commit_seconds_total",
		"Time spent in write transactions to the state file, committed or not.")
	descCommitFailures = desc("vela_agent_state_commit_failures_total",
		"Write transactions the state file could not take (a full disk, an I/O error).")
	descWriteFailing = desc("vela_agent_state_write_failing",
		"1 while the state file cannot be written (the agent takes no new work), else 0.")
	descWorkers = desc("vela_agent_workers",
		"Workers running, by pool: upload, or local (downloads, ZIPs, after-upload actions).", "pool")
	descWorkersWanted = desc("vela_agent_workers_wanted",
		"Workers the configuration asks for, by pool: upload or local.", "pool")
	descBuildInfo = desc("vela_agent_build_info",
		"Always 1: the agent's version and the Go version it was built with.", "version", "goversion")
)

// collector reads the agent's figures at each gather.
type collector struct{ a *Agent }

var _ prometheus.Collector = collector{}

// Metrics is the collector of the agent's metrics, the request time
// histograms included. Register it in a registry of its own: /metrics
// serves one.
func (a *Agent) Metrics() prometheus.Collector { return collector{a} }

func (c collector) timings() []*timing {
	return []*timing{c.a.apiPace.timed, c.a.upPace.timed}
}

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descJobs, descUploadedFiles, descUploadedBytes, descLastUpload, descRetries, descParked, descSkipped,
		descHolds, descHolding, descPaused, descScans, descFound, descKnown, descLastScan,
		descCommits, descCommitSeconds, descCommitFailures, descWriteFailing,
		descWorkers, descWorkersWanted, descBuildInfo,
	} {
		ch <- d
	}
	for _, t := range c.timings() {
		t.seconds.Describe(ch)
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	a := c.a
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	flag := func(d *prometheus.Desc, on bool, labels ...string) {
		v := 0.0
		if on {
			v = 1
		}
		gauge(d, v, labels...)
	}

	if counts, err := a.store.Counts(); err != nil {
		ch <- prometheus.NewInvalidMetric(descJobs, err)
	} else {
		for _, s := range store.States {
			gauge(descJobs, float64(counts[s]), s.String())
		}
	}
	counter(descUploadedFiles, float64(a.track.files.Load()))
	counter(descUploadedBytes, float64(a.track.bytes.Load()))

	ts := c.timings()
	if last := ts[1].lastOK.Load(); last != 0 {
		gauge(descLastUpload, float64(last)/float64(time.Second))
	}
	for _, t := range ts {
		t.seconds.Collect(ch)
	}

	st := a.Stats()
	for _, cause := range causes {
		counter(descRetries, float64(st.Retries[cause]), cause)
	}
	for _, rc := range reasonClasses {
		counter(descParked, float64(st.Parked[rc]), rc)
		counter(descSkipped, float64(st.Skipped[rc]), rc)
	}
	for _, r := range remotes {
		p := st.Pacers[r]
		counter(descHolds, float64(p.Holds), r, "failures")
		counter(descHolds, float64(p.RetryAfterHolds), r, "retry_after")
		flag(descHolding, p.Holding, r)
	}
	for _, g := range gateNames {
		flag(descPaused, a.gates.closed(g), g)
	}
	for name, s := range st.Sources {
		counter(descScans, float64(s.Scans), name)
		counter(descFound, float64(s.Found), name)
		counter(descKnown, float64(s.Known), name)
		gauge(descLastScan, s.LastScanDuration.Seconds(), name)
	}
	counter(descCommits, float64(st.Store.Commits))
	counter(descCommitSeconds, st.Store.CommitTime.Seconds())
	counter(descCommitFailures, float64(st.Store.CommitFailures))
	flag(descWriteFailing, st.StateWriteFailing)
	gauge(descWorkers, float64(st.Workers.Live), poolUpload)
	gauge(descWorkers, float64(st.Locals.Live), poolLocal)
	gauge(descWorkersWanted, float64(st.Workers.Want), poolUpload)
	gauge(descWorkersWanted, float64(st.Locals.Want), poolLocal)
	gauge(descBuildInfo, 1, Version, runtime.Version())
}

// metricsHandler serves the agent's metrics, with the Go runtime's and the
// process's, from a registry of its own (never the global one).
func (a *Agent) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		a.Metrics(),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      promLog{a},
		ErrorHandling: promhttp.HTTPErrorOnError,
	})
}

// promLog passes the handler's errors to the agent's log.
type promLog struct{ a *Agent }

func (l promLog) Println(v ...any) { l.a.log.Warn("metrics: " + fmt.Sprint(v...)) }
