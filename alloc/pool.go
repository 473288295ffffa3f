package alloc

import (
	"fmt"
	"strings"

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
}

// Pool is a custom pool. Allocate from it with AllocationOptions.Pool.
type Pool struct {
	name string
	list *blockList
}

// NewPool creates a pool and its MinBlocks blocks.
func (a *Allocator) NewPool(o PoolOptions) (*Pool, error) {
	if int(o.MemoryType) >= len(a.types) {
		return nil, fmt.Errorf("alloc: pool %q: memory type %d: the device has %d", o.Name, o.MemoryType, len(a.types))
	}
	if o.MaxBlocks > 0 && o.MinBlocks > o.MaxBlocks {
		return nil, fmt.Errorf("alloc: pool %q: MinBlocks %d > MaxBlocks %d", o.Name, o.MinBlocks, o.MaxBlocks)
	}
	if o.Algorithm > virtual.AlgorithmLinear {
		return nil, fmt.Errorf("alloc: pool %q: %w: %d", o.Name, ErrUnknownAlgorithm, o.Algorithm)
	}
	size := o.BlockSize
	if size == 0 {
		size = a.preferredBlockSize(o.MemoryType)
	}
	p := &Pool{name: o.Name}
	p.list = a.newBlockList(o.MemoryType, size, o.Algorithm, o.MinBlocks, o.MaxBlocks, p)
	p.list.mu.Lock()
	for range o.MinBlocks {
		if _, err := p.list.newBlock(size); err != nil {
			p.list.mu.Unlock()
			p.list.destroy()
			return nil, fmt.Errorf("alloc: pool %q: %w", o.Name, err)
		}
	}
	p.list.mu.Unlock()
	a.poolsMu.Lock()
	a.pools = append(a.pools, p)
	a.poolsMu.Unlock()
	return p, nil
}

// Name is the pool's name.
func (p *Pool) Name() string { return p.name }

// MemoryType is the pool's memory type.
func (p *Pool) MemoryType() uint32 { return p.list.typeIndex }

// Close frees the pool's blocks. Live allocations are reported as an error
// wrapping ErrLeaks, and freed all the same.
func (p *Pool) Close() error {
	a := p.list.owner
	a.poolsMu.Lock()
	for i, q := range a.pools {
		if q == p {
			a.pools = append(a.pools[:i], a.pools[i+1:]...)
			break
		}
	}
	a.poolsMu.Unlock()
	leaks := p.list.leaks()
	p.list.destroy()
	if len(leaks) > 0 {
		names := make([]string, len(leaks))
		for i, l := range leaks {
			names[i] = fmt.Sprintf("%q (%d bytes)", l.Name, l.Size)
		}
		return fmt.Errorf("pool %q: %w: %d: %s", p.name, ErrLeaks, len(leaks), strings.Join(names, ", "))
	}
	return nil
}
