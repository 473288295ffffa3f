package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// urlWriter is a stderr that hands over the inspector's URL once printed.
type urlWriter struct {
	mu  sync.Mutex // protects buf
	buf bytes.Buffer
	url chan<- string // nil once the URL was handed over
}

var inspectURL = regexp.MustCompile(`inspector: (http://\S+/)`)

func (w *urlWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if m := inspectURL.FindSubmatch(w.buf.Bytes()); m != nil && w.url != nil {
		w.url <- string(m[1])
		w.url = nil
	}
	return len(p), nil
}

func (w *urlWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// inspectWhile runs a command with --inspect 127.0.0.1:0, reads the state
// and the assets table while it runs, and requires that it ends well and
// closes the server.
func inspectWhile(t *testing.T, args ...string) {
	t.Helper()
	urls := make(chan string, 1)
	stderr := &urlWriter{url: urls}
	var stdout bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- run(append(args, "--inspect", "127.0.0.1:0"), &stdout, stderr) }()
	var url string
	select {
	case url = <-urls:
	case code := <-done:
		t.Fatalf("ended (%d) before printing the inspector's URL: %s", code, stderr.String())
	}
	var st struct{ Frame uint64 }
	var frames []uint64
	deadline := time.Now().Add(20 * time.Second)
	for len(frames) < 2 && time.Now().Before(deadline) {
		resp, err := http.Get(url + "api/state")
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			require.NoError(t, json.Unmarshal(body, &st))
			if len(frames) == 0 || st.Frame > frames[0] {
				frames = append(frames, st.Frame)
			}
			resp, err = http.Get(url + "api/assets")
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.Len(t, frames, 2, "the frame number moves while the command runs")
	require.Equal(t, 0, <-done, stderr.String())
	_, err := http.Get(url + "api/state")
	require.Error(t, err, "the server is shut down at the end")
}

func TestDemoInspect(t *testing.T) {
	inspectWhile(t, "demo", "--frames", "3000", "--out", t.TempDir(), "--json")
}

func TestStressInspect(t *testing.T) {
	inspectWhile(t, "stress", "--frames", "1500", "--seed", "2", "--json")
}
