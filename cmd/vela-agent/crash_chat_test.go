package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vela-agent/vela-agent/agent/vela/velatest"
	"github.com/vela-agent/vela-agent/store"
)

// The chat crash test's scale: chatCrashFiles files holding chatCrashChats
// chats in all, 1 to 8 each; chatCrashKills kills, each soon after 1 to
// chatCrashBurst new chat requests, so that the kills seldom use up the
// chats before the last run.
const (
	chatCrashFiles = 60
	chatCrashChats = 250
	chatCrashKills = 20
	chatCrashBurst = 8
	// chatCrashDelay is how long the emulator takes over each chat, as a
	// real Vela does, so that the kills meet posts in flight.
	chatCrashDelay = 15 * time.Millisecond
	// chatCrashDisk makes each commit wait up to this long (a busy disk),
	// so that the kills also meet the window between a chat's reply and
	// the commit of its id, which a fast disk hides.
	chatCrashDisk = 10 * time.Millisecond
)

// TestCrashChats kills a real agent process with SIGKILL at random moments
// while it posts the chats of chat files, then lets a last run finish.
// Afterwards every chat is stored; no chat was posted again once a kill
// found its id committed; at each kill, a file's posted chats are the ones
// its job records plus at most the next; the duplicates, possible only for
// a kill between Vela's reply and the commit of a chat's id, stay within
// one per kill and upload worker (each worker posts one chat at a time);
// and the queue has each file done with the ids of all its chats, each
// the id Vela gave that chat.
func TestCrashChats(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: kills and restarts a process many times")
	}
	if runtime.GOOS == "windows" {
		t.Skip("needs POSIX signals")
	}
	for _, tc := range []struct {
		name    string
		workers int // upload.concurrency
	}{
		{"one worker", 1}, // one chat in flight: at most one duplicate per kill
		{"four workers", 4},
	} {
		t.Run(tc.name, func(t *testing.T) { crashChats(t, tc.workers) })
	}
}

// crashChats runs TestCrashChats with the given upload workers.
func crashChats(t *testing.T, workers int) {
	srv, dir, token := startEmulator(t)
	srv.Inject(velatest.Fault{Op: velatest.OpChats, Delay: chatCrashDelay, Times: 1 << 30})
	var arrived atomic.Int64
	arrival := make(chan struct{}, 1)
	srv.SetHook(velatest.OpChats, func(*http.Request) {
		arrived.Add(1)
		select {
		case arrival <- struct{}{}:
		default:
		}
	})

	in := filepath.Join(dir, "in")
	stateDir := filepath.Join(dir, "state")
	stateFile := filepath.Join(stateDir, "queue.db")
	chats := writeChatFiles(t, in) // file name -> its chats' interaction ids, in order
	statusAddr := freeAddr(t)
	cfg := writeCrashConfig(t, dir, srv.URL(), token, stateDir,
		"  - name: chats\n    kind: chats\n    path: "+in+"\n    settle: 200ms\n    rescan_interval: 1s\n",
		fmt.Sprintf("  concurrency: %d\n", workers), statusAddr)
	start := agentRunner(t, cfg, "VELA_TEST_SLOW_DISK="+chatCrashDisk.String())

	// committed maps each chat whose id the store had recorded after a
	// kill to how often the emulator had stored it then: it must never
	// grow. windows counts the kills that found a chat stored and its id
	// not yet committed; late the kills that waited in vain for more chat
	// requests.
	committed := map[string]int{}
	windows, late := 0, 0
	var before map[string]int // the chats stored at the previous kill
	for k := 0; k < chatCrashKills; k++ {
		cmd := start()
		// Kill at a random moment after 1 to chatCrashBurst new chat
		// requests: in a post, between a reply and its commit, or
		// between chats or files; or after 5 s, if the chats ran out.
		target := arrived.Load() + 1 + int64(mrand(chatCrashBurst))
		timeout := time.After(5 * time.Second)
	wait:
		for arrived.Load() < target {
			select {
			case <-arrival:
			case <-timeout:
				late++
				break wait
			}
		}
		<-time.After(time.Duration(mrand(int(2 * (chatCrashDelay + chatCrashDisk)))))
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()

		stored := chatsStored(t, srv)
		jobs := chatJobs(t, stateFile)
		if checkChatPrefix(t, k+1, chats, jobs, before, stored) {
			windows++
		}
		before = stored
		for name, ids := range chats {
			j := jobs[name]
			if j == nil {
				continue
			}
			for _, iid := range ids[:min(len(strings.Fields(j.Ref)), len(ids))] {
				if _, ok := committed[iid]; !ok {
					committed[iid] = stored[iid]
				}
			}
		}
	}

	// Let a last run finish, as its status page reports.
	if !finishRun(t, start(), statusAddr, chatCrashFiles, time.Minute) {
		t.Errorf("the last run did not finish the %d chat files", chatCrashFiles)
	}

	stored := chatsStored(t, srv)
	for iid, then := range committed {
		if stored[iid] != then {
			t.Errorf("chat %s: stored %d time(s) when its id was committed, %d time(s) in the end", iid, then, stored[iid])
		}
	}
	duplicates := 0
	for _, ids := range chats {
		for _, iid := range ids {
			switch n := stored[iid]; {
			case n == 0:
				t.Errorf("chat %s: never stored", iid)
			case n > 1:
				duplicates += n - 1
			}
		}
	}
	t.Logf("%d chats in %d files, %d kills, upload.concurrency %d: %d chat requests, %d stored, %d duplicates, %d kills between a reply and its commit, %d after the chats ran out",
		chatCrashChats, chatCrashFiles, chatCrashKills, workers, srv.Count(velatest.OpChats), len(srv.Chats()), duplicates, windows, late)
	if duplicates > workers*chatCrashKills {
		t.Errorf("%d duplicate chats for %d kills, want at most %d per kill (one per upload worker)", duplicates, chatCrashKills, workers)
	}

	// The queue agrees: every file done, with the id Vela gave each chat.
	ids := map[string]string{} // id Vela gave -> the chat's interaction id
	for _, r := range srv.Chats() {
		ids[r.ID] = chatInteractionID(t, r)
	}
	jobs := chatJobs(t, stateFile)
	if len(jobs) != chatCrashFiles {
		t.Errorf("%d jobs in the queue, want %d", len(jobs), chatCrashFiles)
	}
	for name, want := range chats {
		j := jobs[name]
		if j == nil {
			t.Errorf("%s: no job", name)
			continue
		}
		if j.State != store.Done {
			t.Errorf("%s: job %s (%s), want done", name, j.State, j.Reason)
		}
		refs := strings.Fields(j.Ref)
		if len(refs) != len(want) {
			t.Errorf("%s: job ref holds %d ids, want %d: %q", name, len(refs), len(want), j.Ref)
			continue
		}
		for i, id := range refs {
			if ids[id] != want[i] {
				t.Errorf("%s: chat %d recorded with id %s, which Vela gave chat %q, want %s", name, i+1, id, ids[id], want[i])
			}
		}
	}
}

// writeChatFiles writes chatCrashFiles chat files in the bulk export
// layout under dir, holding chatCrashChats chats in all, 1 to 8 each. It
// returns each file's name with its chats' interaction ids, in file order.
func writeChatFiles(t *testing.T, dir string) map[string][]string {
	t.Helper()
	counts := make([]int, chatCrashFiles)
	for i := range counts {
		counts[i] = 1
	}
	for left := chatCrashChats - chatCrashFiles; left > 0; {
		if i := mrand(len(counts)); counts[i] < 8 {
			counts[i]++
			left--
		}
	}
	type message struct {
		Message string `json:"message"`
		Time    string `json:"time"`
		Sender  string `json:"sender"`
	}
	type entry struct {
		Metadata map[string]string `json:"metadata"`
		Messages []message         `json:"messages"`
	}
	files := map[string][]string{}
	for f, n := range counts {
		name := fmt.Sprintf("chats_%02d.json", f)
		var entries []entry
		for c := 1; c <= n; c++ {
			iid := fmt.Sprintf("F%02d-C%d", f, c)
			files[name] = append(files[name], iid)
			entries = append(entries, entry{
				Metadata: map[string]string{"interaction_id": iid},
				Messages: []message{
					{Message: "Hello, chat " + iid, Time: "2025-03-04T09:00:05+02:00", Sender: "user"},
					{Message: "How can I help?", Time: "2025-03-04T09:00:09+02:00", Sender: "agent"},
				},
			})
		}
		b, err := json.MarshalIndent(entries, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, fmt.Sprintf("d%d", f%5), name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// checkChatPrefix checks, after kill k, that the emulator stored each
// file's chats its job records as posted and none past the next one. It
// reports whether some file's next chat was stored since the previous
// kill (before: the chats stored then): a kill between the reply and the
// commit of its id.
func checkChatPrefix(t *testing.T, k int, chats map[string][]string, jobs map[string]*store.Job, before, stored map[string]int) (window bool) {
	t.Helper()
	for name, ids := range chats {
		posted := 0
		if j := jobs[name]; j != nil {
			posted = len(strings.Fields(j.Ref))
		}
		if posted > len(ids) {
			t.Errorf("kill %d: %s: job ref holds %d ids, the file %d chats", k, name, posted, len(ids))
			continue
		}
		for i, iid := range ids {
			switch {
			case i < posted && stored[iid] == 0:
				t.Errorf("kill %d: chat %s recorded as posted, never stored", k, iid)
			case i == posted && stored[iid] > before[iid]:
				window = true
			case i > posted && stored[iid] > 0:
				t.Errorf("kill %d: chat %s stored before chat %d's id was committed (%s holds %d)", k, iid, posted+1, name, posted)
			}
		}
	}
	return window
}

// chatsStored counts the stored copies of each chat, by interaction id.
func chatsStored(t *testing.T, srv *velatest.Server) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, r := range srv.Chats() {
		n[chatInteractionID(t, r)]++
	}
	return n
}

// chatInteractionID returns the metadata.interaction_id the chat r was
// posted with.
func chatInteractionID(t *testing.T, r velatest.ChatRecord) string {
	t.Helper()
	var b struct {
		Metadata struct {
			InteractionID string `json:"interaction_id"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(r.Body, &b); err != nil || b.Metadata.InteractionID == "" {
		t.Fatalf("chat %s stored without an interaction id (%v): %s", r.ID, err, r.Body)
	}
	return b.Metadata.InteractionID
}

// chatJobs returns the stopped agent's jobs by file name, none if it has
// no state file yet.
func chatJobs(t *testing.T, stateFile string) map[string]*store.Job {
	t.Helper()
	s, err := store.Open(stateFile, store.Options{ReadOnly: true})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	all, err := s.List(0, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	jobs := map[string]*store.Job{}
	for _, j := range all {
		name := path.Base(j.Path)
		if jobs[name] != nil {
			t.Errorf("%s: jobs %d and %d", name, jobs[name].ID, j.ID)
		}
		jobs[name] = j
	}
	return jobs
}
