package chat

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// largeFile returns a bulk file of one chat of n messages and a CSV file of
// the same messages.
func largeFile(n int) (bulk, csv []byte) {
	var j, c bytes.Buffer
	j.WriteString(`[{"metadata": {"agent_name": "Thandi", "tags": ["vip"]}, "messages": [`)
	c.WriteString("time,sender,message,language\n")
	start := time.Date(2025, 1, 15, 8, 0, 0, 0, time.UTC)
	senders := []string{"user", "Agent", "bot", "customer"}
	for i := range n {
		if i > 0 {
			j.WriteString(",\n")
		}
		at := start.Add(time.Duration(i) * time.Second).Format(time.RFC3339)
		text := fmt.Sprintf("message %d: %s", i, strings.Repeat("words and more words ", 4))
		fmt.Fprintf(&j, `{"message": %q, "time": %q, "sender": %q, "language": "en"}`, text, at, senders[i%4])
		fmt.Fprintf(&c, "%s,%s,%q,en\n", at, senders[i%4], text)
	}
	j.WriteString("]}]")
	return j.Bytes(), c.Bytes()
}

func TestRead5000Messages(t *testing.T) {
	const n = 5000
	bulk, csv := largeFile(n)
	for name, in := range map[string][]byte{"large.json": bulk, "large.csv": csv} {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, chats, err := Read(name, bytes.NewReader(in), opts)
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if len(chats) != 1 || len(chats[0].Messages) != n {
				t.Fatalf("got %d chats", len(chats))
			}
			if m := chats[0].Messages[n-1]; m.Sender != "user" || !strings.HasPrefix(m.Text, "message 4999: ") {
				t.Errorf("last message = %+v", m)
			}
			// Allocation is linear in the file: a few times its size.
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%s: %d bytes, %d messages: %d bytes allocated (%.1f per byte)", name, len(in), n, alloc, float64(alloc)/float64(len(in)))
			if alloc > 12*uint64(len(in)) {
				t.Errorf("Read allocated %d bytes for a file of %d", alloc, len(in))
			}
			for _, s := range []Schema{Chats, ChatData} {
				b, err := chats[0].Body(s, "org", name)
				if err != nil {
					t.Fatalf("Body(%s): %v", s, err)
				}
				if len(b) > 2*len(in) {
					t.Errorf("body of %d bytes for a file of %d", len(b), len(in))
				}
			}
		})
	}
}

func BenchmarkRead(b *testing.B) {
	bulk, csv := largeFile(5000)
	for name, in := range map[string][]byte{"large.json": bulk, "large.csv": csv} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := Read(name, bytes.NewReader(in), opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkBody(b *testing.B) {
	bulk, _ := largeFile(5000)
	_, chats, err := Read("large.json", bytes.NewReader(bulk), opts)
	if err != nil {
		b.Fatal(err)
	}
	for _, s := range []Schema{Chats, ChatData} {
		b.Run(string(s), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := chats[0].Body(s, "org", "large.json"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
