package assets_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/vk/vktest"
)

// cannedTransport answers every request with the response the fuzzer made.
type cannedTransport struct {
	status int
	length int64
	mode   uint8 // 0 the body, 1 the body then a read error, 2 no response, 3 a hang until the deadline
	body   []byte
}

var errReset = errors.New("connection reset (injected)")

type failingBody struct{ r io.Reader }

func (b failingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		return n, errReset
	}
	return n, err
}

func (failingBody) Close() error { return nil }

func (c *cannedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body io.ReadCloser = io.NopCloser(bytes.NewReader(c.body))
	switch c.mode % 4 {
	case 1:
		body = failingBody{bytes.NewReader(c.body)}
	case 2:
		return nil, errReset
	case 3:
		<-req.Context().Done()
		return nil, req.Context().Err()
	}
	return &http.Response{StatusCode: c.status, Status: fmt.Sprintf("%d canned", c.status), ContentLength: c.length,
		Body: body, Header: http.Header{}, Request: req, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}, nil
}

// FuzzRemoteResponse: LoadRemote over any HTTP response — any status, a
// true or false Content-Length, any body, a body cut by a read error, no
// response, a server that never answers — on lavapipe with validation.
// Either a ready sprite comes back, or an error naming the URL with nothing
// of that URL cached; once the sprite is released and retired, no
// allocation is left; never a panic.
func FuzzRemoteResponse(f *testing.F) {
	for _, p := range []string{"testdata/content/hero.png", "testdata/content/logo.jpg"} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint16(200), int64(-1), uint8(0), data)
		f.Add(uint16(200), int64(len(data)), uint8(0), data)
		f.Add(uint16(200), int64(len(data)+9), uint8(1), data[:len(data)/2])
		f.Add(uint16(200), int64(1)<<40, uint8(0), data)
	}
	f.Add(uint16(404), int64(-1), uint8(0), []byte("not found"))
	f.Add(uint16(200), int64(0), uint8(2), []byte{})
	f.Add(uint16(200), int64(0), uint8(3), []byte{})

	d := vktest.Open(f)
	a, err := alloc.New(alloc.Options{Device: d, Logger: vktest.Logger(f)})
	if err != nil {
		f.Fatal(err)
	}
	s, err := framesync.New(framesync.Options{Device: d, Allocator: a})
	if err != nil {
		f.Fatal(err)
	}
	rt := &cannedTransport{}
	m, err := assets.New(assets.Options{Device: d, Allocator: a, Sync: s,
		HTTPClient: &http.Client{Transport: rt}, RemoteTimeout: 20 * time.Millisecond, RemoteMaxBytes: 64 << 10})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		if err := m.Close(); err != nil {
			f.Error(err)
		}
		if err := s.Close(); err != nil {
			f.Error(err)
		}
		if err := a.Close(); err != nil {
			f.Error("leaked:", err)
		}
	})
	ctx := context.Background()
	n := 0
	f.Fuzz(func(t *testing.T, status uint16, length int64, mode uint8, body []byte) {
		n++
		url := fmt.Sprintf("http://fuzz.invalid/%d.png", n)
		*rt = cannedTransport{status: int(status), length: max(length, -1), mode: mode, body: body}
		sprite, err := m.LoadRemote(ctx, url)
		if err != nil {
			if !strings.Contains(err.Error(), url) {
				t.Fatalf("the error does not name the URL: %v", err)
			}
			for _, kind := range []string{"#image", "#texture", "#sprite"} {
				if x, ok := m.Lookup(url + kind); ok {
					t.Fatalf("after %v: %v is cached", err, x)
				}
			}
		} else {
			if tex := sprite.Texture(); sprite.State() != assets.Ready || tex.Width == 0 || tex.Height == 0 {
				t.Fatalf("loaded sprite %v is %v, %dx%d", sprite, sprite.State(), tex.Width, tex.Height)
			}
			if n, err := m.Release(sprite, false); n != 3 || err != nil {
				t.Fatalf("release: %d %v", n, err)
			}
		}
		if err := s.WaitIdle(); err != nil {
			t.Fatal(err)
		}
		if live := a.Stats().Total.AllocationCount; live != 0 {
			t.Fatalf("%d allocations live after the load was released and retired", live)
		}
	})
}
