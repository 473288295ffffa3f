package alloc

import (
	"fmt"
	"sync"

	"github.com/vkassets/vkassets/alloc/virtual"
)

// PoolOptions configure a custom pool: blocks of one memory type and a
// fixed size, with a block count range and an algorithm.
type PoolOptions struct {
	Name       string
	MemoryType uint32
	// BlockSize is every block's size; 0 means the allocator's preferred size.
	BlockSize uint64
	// MinBlocks are allocated up front and never freed; MaxBlocks (0: no
	// limit) bounds the pool.
	MinBlocks, MaxBlocks int
	// Algorithm: TLSF, or Linear for rings and stacks of staging or
	// per-frame data.
	Algorithm Algorithm
	// Priority is the memory priority of the pool's blocks (and of its
	// dedicated allocations) under Options.MemoryPriority, from 0 to 1; 0
	// means the default, 0.5. The allocations' own Priority is ignored.
	Priority float32
}

// Pool is a custom pool. Allocate from it with AllocationOptions.Pool.
type Pool struct {
	name      string
	list      *blockList
	closeOnce sync.Once
}

// NewPool creates a pool and its MinBlocks blocks. After Close it returns
// ErrClosed and allocates nothing.
func (a *Allocator) NewPool(o PoolOptions) (*Pool, error) {
	if a.closed.Load() {
		return nil, fmt.Errorf("alloc: pool %q: %w", o.Name, ErrClosed)
	}
	if int(o.MemoryType) >= len(a.types) {
		return nil, fmt.Errorf("alloc: pool %q: memory type %d: the device has %d", o.Name, o.MemoryType, len(a.types))
	}
	if o.MaxBlocks > 0 && o.MinBlocks > o.MaxBlocks {
		return nil, fmt.Errorf("alloc: pool %q: MinBlocks %d > MaxBlocks %d", o.Name, o.MinBlocks, o.MaxBlocks)
	}
	if o.Algorithm > virtual.AlgorithmLinear {
		return nil, fmt.Errorf("alloc: pool %q: %w: %d", o.Name, ErrUnknownAlgorithm, o.Algorithm)
	}
	prio, err := checkPriority(o.Priority)
	if err != nil {
		return nil, fmt.Errorf("alloc: pool %q: %w", o.Name, err)
	}
	size := o.BlockSize
	if size == 0 {
		size = a.preferredBlockSize(o.MemoryType)
	}
	p := &Pool{name: o.Name}
	p.list = a.newBlockList(o.MemoryType, size, o.Algorithm, o.MinBlocks, o.MaxBlocks, p)
	p.list.priority = prio
	// Registered first, so that a Close from now on sees the pool and
	// frees whatever it has; a Close before this point is seen here.
	a.poolsMu.Lock()
	if a.closed.Load() {
		a.poolsMu.Unlock()
		return nil, fmt.Errorf("alloc: pool %q: %w", o.Name, ErrClosed)
	}
	a.pools = append(a.pools, p)
	a.poolsMu.Unlock()
	p.list.mu.Lock()
	for range o.MinBlocks {
		if _, err = p.list.newBlock(size, memoryLimits{}); err != nil {
			break
		}
	}
	p.list.mu.Unlock()
	if err != nil {
		p.list.close() // frees the blocks made so far: all empty
		a.forgetPool(p)
		return nil, fmt.Errorf("alloc: pool %q: %w", o.Name, err)
	}
	return p, nil
}

// Name is the pool's name.
func (p *Pool) Name() string { return p.name }

// MemoryType is the pool's memory type.
func (p *Pool) MemoryType() uint32 { return p.list.typeIndex }

// Close closes the pool, like Allocator.Close: allocating from it returns
// ErrClosed from then on, its empty blocks are freed now, and live
// allocations keep their blocks until they are freed (Free, DestroyBuffer
// and DestroyImage still work; the last free of a block frees its memory).
// Live allocations are named in an error wrapping ErrLeaks. Close is safe
// from any goroutine, before or after Allocator.Close, and idempotent: the
// first call reports, the others wait for it and return nil.
func (p *Pool) Close() error {
	var err error
	p.closeOnce.Do(func() {
		leaks, drained := p.list.close()
		if drained {
			p.list.owner.forgetPool(p)
		}
		err = p.list.owner.leakError(fmt.Sprintf("pool %q: ", p.name), leaks)
	})
	return err
}
