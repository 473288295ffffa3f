package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/finalizer"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/inspector"
	"github.com/vkassets/vkassets/internal/render"
	"github.com/vkassets/vkassets/internal/traffic"
	"github.com/vkassets/vkassets/vk"
)

// concurrentResult is what `vkassets stress --concurrency N --json` prints.
type concurrentResult struct {
	Seconds          float64          `json:"seconds"`
	Concurrency      int              `json:"concurrency"`
	Rounds           int              `json:"rounds"` // one per frame sync, 1, 2, 3 frames in flight in turn
	Frames           int              `json:"frames"`
	Checks           int              `json:"checks"` // frames after which the graph was checked against the model
	Draws            int64            `json:"draws"`
	DrawsRefused     int64            `json:"draws_refused"` // claims that lost to a release: nothing drawn
	LoadsRefused     int64            `json:"loads_refused"` // Load then AddRef that lost to a release
	ForcesRefused    int64            `json:"forces_refused"`
	Operations       map[string]int64 `json:"operations"`
	ValidationErrors int              `json:"validation_errors"`
	Leaks            int              `json:"leaks"`
	Failure          string           `json:"failure,omitempty"` // the broken invariant, if any
	Seed             uint64           `json:"seed"`
	Device           string           `json:"device"`
}

// stressConcurrent runs package traffic — N goroutines loading, holding,
// releasing, forcing, locking, collecting, switching scenes, packing and
// asking Why while a render goroutine draws what it is handed — for the
// given time, in rounds of about ten seconds with 1, 2 and 3 frames in
// flight in turn, synchronization validation on. Remote sprites come from
// an HTTP server on 127.0.0.1. Built with -race, the race detector watches
// too (and makes the process exit non-zero on a race).
func stressConcurrent(o stressOptions, logger *slog.Logger, progressOut io.Writer) (concurrentResult, error) {
	res := concurrentResult{Concurrency: o.concurrency, Seed: o.seed, Operations: map[string]int64{}}
	d, err := vk.Open(vk.Options{InstanceOptions: vk.InstanceOptions{AppName: "vkassets stress", Logger: logger, SyncValidation: true}})
	if err != nil {
		return res, err
	}
	res.Device = d.Physical().Name
	a, err := alloc.New(alloc.Options{Device: d, Logger: logger})
	if err != nil {
		d.Close()
		return res, err
	}
	srv := httptest.NewServer(http.FileServerFS(assets.SampleContent()))
	defer srv.Close()
	total := time.Duration(o.seconds * float64(time.Second))
	start := time.Now()
	progress := newProgress(progressOut, max(int(o.seconds), 1), false)
	progress.unit = "s"
	var runErr error
	for round := 0; runErr == nil; round++ {
		left := total - time.Since(start)
		if left <= 0 {
			break
		}
		res.Rounds++
		rep, err := concurrentRound(d, a, srv.URL+"/", o, 1+round%3, min(left, 10*time.Second), round, func() {
			progress.step(int(time.Since(start).Seconds()))
		})
		res.Frames += rep.Frames
		res.Checks += rep.Checks
		res.Draws += rep.Draws
		res.DrawsRefused += rep.DrawsRefused
		res.LoadsRefused += rep.LoadsRefused
		res.ForcesRefused += rep.ForcesRefused
		for k, v := range rep.Ops {
			res.Operations[k] += v
		}
		runErr = err
	}
	progress.done()
	res.Seconds = time.Since(start).Seconds()
	res.Leaks = len(a.Leaks())
	_ = a.Close()
	d.Close()
	res.ValidationErrors = d.Validator().Errors()
	if runErr != nil {
		res.Failure = runErr.Error()
	}
	return res, nil
}

// concurrentRound is one frame sync, manager, renderer and atlas, the
// traffic on them, and their teardown.
func concurrentRound(d *vk.Device, a *alloc.Allocator, remote string, o stressOptions, inFlight int, dur time.Duration, round int, tick func()) (traffic.Report, error) {
	s, err := framesync.New(framesync.Options{Device: d, Allocator: a, FramesInFlight: inFlight})
	if err != nil {
		return traffic.Report{}, err
	}
	defer s.Close()
	m, err := assets.New(assets.Options{Device: d, Allocator: a, Sync: s})
	if err != nil {
		return traffic.Report{}, err
	}
	defer m.Close()
	fin := finalizer.New(m)
	b, err := m.AddBundle("content", assets.SampleContent())
	if err != nil {
		return traffic.Report{}, err
	}
	r, err := render.New(m, d, a, s, 64, 64)
	if err != nil {
		return traffic.Report{}, err
	}
	defer func() {
		_ = s.WaitIdle()
		r.Close()
	}()
	o.insp.set(&inspector.Options{Manager: m, Finalizer: fin, Sync: s, Allocator: a})
	defer o.insp.set(nil)
	rep, err := traffic.Run(context.Background(), traffic.Config{
		Sync: s, Manager: m, Finalizer: fin, Renderer: r, Bundle: b, RemoteBase: remote,
		Atlas:   fin.NewAtlas(m, d, finalizer.AtlasOptions{PageSize: 128, MaxFrame: 32}),
		Workers: o.concurrency, Duration: dur, Seed: o.seed + uint64(round),
		Progress: func(frame int) {
			if frame%50 == 0 {
				tick()
			}
		},
	})
	fin.ReleaseAll()
	if err != nil {
		return rep, fmt.Errorf("%d in flight: %w", inFlight, err)
	}
	return rep, nil
}

// runStressConcurrent is `stress --concurrency N`: 0 when every check held,
// 1 on a broken invariant, 3 on a validation error or a leak.
func runStressConcurrent(o stressOptions, asJSON bool, stdout, stderr io.Writer) int {
	if o.faults != 0 || o.loseAt != 0 {
		fmt.Fprintln(stderr, "vkassets stress: --concurrency runs without --faults and --lose-at")
		return 2
	}
	if o.seconds <= 0 {
		fmt.Fprintln(stderr, "vkassets stress: --seconds must be positive")
		return 2
	}
	res, err := stressConcurrent(o, stressLogger(stderr), stderr)
	if err != nil {
		fmt.Fprintf(stderr, "vkassets stress: %v\n", err)
		return 1
	}
	if asJSON {
		writeJSON(stdout, res)
	} else {
		fmt.Fprintf(stdout, "%.0f s, %d goroutines, %d rounds, %d frames checked, %d draws (%d claims lost to a release), %d operations on %s (seed %d): %d validation errors, %d leaks\n",
			res.Seconds, res.Concurrency, res.Rounds, res.Checks, res.Draws, res.DrawsRefused, sum(res.Operations), res.Device, res.Seed, res.ValidationErrors, res.Leaks)
	}
	switch {
	case res.Failure != "":
		fmt.Fprintf(stderr, "vkassets stress: %s\n", res.Failure)
		return 1
	case res.ValidationErrors > 0 || res.Leaks > 0:
		return 3
	}
	return 0
}

func sum(ops map[string]int64) int64 {
	var n int64
	for _, v := range ops {
		n += v
	}
	return n
}
