package vk

import (
	"sync"
	"testing"
	"time"
)

// TestGate: shut refuses later calls at once and returns only after the
// calls admitted before it have exited.
func TestGate(t *testing.T) {
	var g gate
	if !g.enter() {
		t.Fatal("a new gate refused a call")
	}
	shut := make(chan struct{})
	go func() {
		g.shut()
		close(shut)
	}()
	for !g.closed() {
		time.Sleep(time.Millisecond)
	}
	if g.enter() {
		t.Fatal("a call was admitted after shut began")
	}
	select {
	case <-shut:
		t.Fatal("shut returned with a call inside")
	case <-time.After(50 * time.Millisecond):
	}
	g.exit()
	<-shut
	if g.enter() {
		t.Fatal("a call was admitted after shut")
	}
}

// TestGateConcurrent: many goroutines enter and exit while shut runs; shut
// returns with none inside, and none gets in afterwards.
func TestGateConcurrent(t *testing.T) {
	for range 20 {
		var g gate
		var inside sync.WaitGroup // the goroutines
		var mu sync.Mutex
		in := 0
		stop := make(chan struct{})
		for range 4 {
			inside.Add(1)
			go func() {
				defer inside.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					if !g.enter() {
						continue // refused on a load: shut is not held up by retries
					}
					mu.Lock()
					in++
					mu.Unlock()
					mu.Lock()
					in--
					mu.Unlock()
					g.exit()
				}
			}()
		}
		time.Sleep(time.Millisecond)
		g.shut()
		mu.Lock()
		if in != 0 {
			t.Fatalf("%d calls inside after shut", in)
		}
		mu.Unlock()
		close(stop)
		inside.Wait()
		if g.state.Load() != closedBit {
			t.Fatalf("state %#x after every call left", g.state.Load())
		}
	}
}

// BenchmarkGate is the gate's own cost per call: enter and exit.
func BenchmarkGate(b *testing.B) {
	var g gate
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			if g.enter() {
				g.exit()
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if g.enter() {
					g.exit()
				}
			}
		})
	})
}
