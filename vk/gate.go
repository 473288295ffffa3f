package vk

import (
	"errors"
	"sync"
	"sync/atomic"
)

// ErrClosed is returned by every method of a Device (and of its Instance,
// and Swapchains) called after Close. Methods without an
// error result do nothing instead.
var ErrClosed = errors.New("vk: closed")

// gate admits calls into C until shut, and lets shut wait for the calls
// already admitted. It is what makes Close safe from any goroutine: a call
// that passed enter runs to its end on a live VkDevice, because Close frees
// nothing before shut has seen every admitted call exit; a call that comes
// after shut began is refused and touches no C memory.
//
// enter is an atomic load and an atomic add, exit one atomic add; neither
// allocates. The zero
// gate is open. shut must not be called concurrently with itself (Close
// calls it under a sync.Once).
type gate struct {
	state atomic.Int64 // closedBit | number of calls admitted and not yet exited

	mu      sync.Mutex    // protects drained
	drained chan struct{} // made by shut before it sets closedBit; capacity 1
}

const closedBit = 1 << 62

// enter admits a call, or reports false once shut has begun. Each true
// enter must be matched by one exit.
func (g *gate) enter() bool {
	// Refuse on a load where possible: callers that keep trying after
	// Close then leave the count alone, and cannot keep shut waiting.
	if g.state.Load()&closedBit != 0 {
		return false
	}
	if g.state.Add(1)&closedBit == 0 {
		return true
	}
	g.exit() // shut began between the load and the add
	return false
}

// exit ends an admitted call (or undoes a refused enter).
func (g *gate) exit() {
	if g.state.Add(-1) == closedBit {
		g.wake()
	}
}

// wake tells a waiting shut that no call is in flight any more.
func (g *gate) wake() {
	g.mu.Lock()
	select {
	case g.drained <- struct{}{}:
	default: // a token is already there: shut rechecks the count anyway
	}
	g.mu.Unlock()
}

// shut refuses every later enter and returns once no admitted call is left.
// A call blocked in the driver (an endless fence wait) holds it up.
func (g *gate) shut() {
	g.mu.Lock()
	if g.drained == nil {
		g.drained = make(chan struct{}, 1)
	}
	ch := g.drained
	g.mu.Unlock()
	g.state.Or(closedBit)
	for g.state.Load() != closedBit {
		<-ch
	}
}

// closed reports whether shut has begun.
func (g *gate) closed() bool { return g.state.Load()&closedBit != 0 }
