package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/vk"
)

// retireResults is what `vkassets bench retire --json` prints.
type retireResults struct {
	Device string `json:"device"`
	// PollIdleNs is one Poll with Pending objects queued and none due: the
	// completion read (a driver call) plus a look at the oldest bucket.
	PollIdleNs float64 `json:"poll_idle_ns"`
	// QueryNs is the driver call alone (vkGetSemaphoreCounterValue, or
	// vkGetFenceStatus), timed in the same run: Poll's floor.
	QueryNs float64 `json:"query_ns"`
	// QueuePollIdleNs is the queue's part of it alone.
	QueuePollIdleNs float64 `json:"queue_poll_idle_ns"`
	Pending         int     `json:"pending"`
	// Retire10kMs is one Poll destroying 10,000 due buffers on the device;
	// Destroy10kMs the same vkDestroyBuffer calls made directly; the
	// difference is framesync's own cost.
	Retire10kMs  float64 `json:"retire_10k_ms"`
	Destroy10kMs float64 `json:"destroy_10k_ms"`
	// QueueRetire10kMs is retiring 10,000 objects with a destroyer that
	// does nothing.
	QueueRetire10kMs float64 `json:"queue_retire_10k_ms"`
	Timeline         bool    `json:"timeline"`
}

func benchRetire(progress io.Writer) (retireResults, error) {
	d, err := vk.Open(vk.Options{InstanceOptions: vk.InstanceOptions{AppName: "vkassets bench retire"}})
	if err != nil {
		return retireResults{}, err
	}
	defer d.Close()
	res := retireResults{Device: d.Physical().Name, Pending: 1_000_000}
	s, err := framesync.New(framesync.Options{Device: d})
	if err != nil {
		return res, err
	}
	defer s.Close()
	res.Timeline = s.Timeline()

	fmt.Fprintf(progress, "poll with %d pending, none due ...\n", res.Pending)
	gate, err := d.CreateTimelineSemaphore(0)
	if err != nil {
		return res, err
	}
	f, err := s.BeginFrame(context.Background())
	if err != nil {
		return res, err
	}
	nop := framesync.Func(func() {})
	for range res.Pending {
		_ = s.Defer(f.Serial(), nop)
	}
	// The frame waits for a semaphore only the host signals: nothing is due.
	if err := s.EndFrameWith(f, []vk.SemaphoreSubmit{{Semaphore: gate, Value: 1, Stage: vk.StageAllCommands}}, nil); err != nil {
		return res, err
	}
	const polls = 200_000
	start := time.Now()
	for range polls {
		if _, err := s.Poll(); err != nil {
			return res, err
		}
	}
	res.PollIdleNs = float64(time.Since(start).Nanoseconds()) / polls
	start = time.Now()
	for range polls {
		if _, err := d.SemaphoreValue(gate); err != nil {
			return res, err
		}
	}
	res.QueryNs = float64(time.Since(start).Nanoseconds()) / polls
	_ = d.SignalSemaphore(gate, 1)
	if err := s.Flush(context.Background()); err != nil {
		return res, err
	}
	d.DestroySemaphore(gate)

	q := framesync.NewRetireQueue(nopDestroyer{}, nil)
	for i := range res.Pending {
		q.Push(framesync.Serial(2+i/1000), nop, 0, 0)
	}
	start = time.Now()
	for range polls {
		q.Retire(1, 0, 0)
	}
	res.QueuePollIdleNs = float64(time.Since(start).Nanoseconds()) / polls

	fmt.Fprintln(progress, "retire 10,000 due buffers ...")
	const rounds = 20
	bufs := make([]vk.Buffer, 10_000)
	create := func() error {
		for i := range bufs {
			if bufs[i], err = d.CreateBuffer(256, vk.BufferUsageVertex); err != nil {
				return err
			}
		}
		return nil
	}
	var direct, retire time.Duration
	for range rounds {
		if err := create(); err != nil {
			return res, err
		}
		t0 := time.Now()
		for _, b := range bufs {
			d.DestroyBuffer(b)
		}
		direct += time.Since(t0)

		if err := create(); err != nil {
			return res, err
		}
		f, err := s.BeginFrame(context.Background())
		if err != nil {
			return res, err
		}
		for _, b := range bufs {
			_ = s.Defer(f.Serial(), framesync.Buffer(b, alloc.Allocation{}))
		}
		if err := s.EndFrame(f); err != nil {
			return res, err
		}
		if err := d.QueueWaitIdle(); err != nil {
			return res, err
		}
		t0 = time.Now()
		if _, err := s.Poll(); err != nil {
			return res, err
		}
		retire += time.Since(t0)
	}
	res.Destroy10kMs = direct.Seconds() * 1000 / rounds
	res.Retire10kMs = retire.Seconds() * 1000 / rounds

	var queue time.Duration
	q = framesync.NewRetireQueue(nopDestroyer{}, nil)
	for r := range rounds {
		for i := range 10_000 {
			q.Push(framesync.Serial(10_000+r), framesync.Buffer(vk.Buffer(i+1), alloc.Allocation{}), 0, 0)
		}
		t0 := time.Now()
		q.Retire(framesync.Serial(10_000+r), 0, 0)
		queue += time.Since(t0)
	}
	res.QueueRetire10kMs = queue.Seconds() * 1000 / rounds
	return res, nil
}

type nopDestroyer struct{}

func (nopDestroyer) DestroyImageView(vk.ImageView) {}
func (nopDestroyer) DestroySampler(vk.Sampler)     {}
func (nopDestroyer) DestroyImage(vk.Image)         {}
func (nopDestroyer) DestroyBuffer(vk.Buffer)       {}
