package alloc_test

import (
	"bytes"
	"runtime/pprof"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/alloc/simdev"
	"github.com/vkassets/vkassets/vk"
)

// TestProfile: with a profile set, each live allocation is in it with the
// stack of the code that made it, starting at the allocator's method; a
// free takes it out; SetProfile(nil) takes out what is still live, and
// nothing more is recorded.
func TestProfile(t *testing.T) {
	require.Same(t, alloc.Profile(), alloc.Profile())
	require.Same(t, pprof.Lookup(alloc.ProfileName), alloc.Profile())

	d, err := simdev.Load("1080 Ti")
	require.NoError(t, err)
	a, err := alloc.New(alloc.Options{Device: d})
	require.NoError(t, err)
	before, err := a.Allocate(vk.MemoryRequirements{Size: 4096, Alignment: 256, TypeBits: ^uint32(0)}, alloc.AllocationOptions{Name: "before"})
	require.NoError(t, err)

	// A profile of the test's own (the process's may hold other tests'
	// allocations); made once per process: -count=N runs the test again.
	name := "vkassets.gpu.test/" + t.Name()
	p := pprof.Lookup(name)
	if p == nil {
		p = pprof.NewProfile(name)
	}
	a.SetProfile(p)
	buf, al, err := a.CreateBuffer(65536, vk.BufferUsageVertex, alloc.AllocationOptions{Name: "vertices"})
	require.NoError(t, err)
	ded := allocateDedicatedForProfile(t, a)
	require.Equal(t, 2, p.Count(), "a sub-allocation and a dedicated one")

	var out bytes.Buffer
	require.NoError(t, p.WriteTo(&out, 1))
	text := out.String()
	require.Contains(t, text, "alloc_test.TestProfile+", "the stack names the code that allocated")
	require.Contains(t, text, "alloc_test.allocateDedicatedForProfile+")
	require.Contains(t, text, "alloc.(*Allocator).CreateBuffer+")
	require.Contains(t, text, "alloc.(*Allocator).Allocate+")
	for _, internal := range []string{"alloc.(*Allocator).allocate+", "tryAllocate", "blockList"} {
		require.NotContains(t, text, internal, "the stack starts at the allocator's exported method")
	}

	require.NoError(t, a.Free(before), "made before the profile: not in it")
	require.Equal(t, 2, p.Count())
	require.NoError(t, a.DestroyBuffer(buf, al))
	require.Equal(t, 1, p.Count(), "freed: out of the profile")
	buf, al, err = a.CreateBuffer(65536, vk.BufferUsageVertex, alloc.AllocationOptions{Name: "again"})
	require.NoError(t, err, "the same place again: recorded again")
	require.Equal(t, 2, p.Count())

	a.SetProfile(nil)
	require.Zero(t, p.Count(), "what the allocator recorded leaves the profile it stops using")
	extra := allocateDedicatedForProfile(t, a)
	require.Zero(t, p.Count(), "no profile: nothing recorded")
	require.NoError(t, a.Free(extra))
	require.NoError(t, a.Free(ded))
	require.NoError(t, a.DestroyBuffer(buf, al))
	require.NoError(t, a.Close())
}

func allocateDedicatedForProfile(t *testing.T, a *alloc.Allocator) alloc.Allocation {
	al, err := a.Allocate(vk.MemoryRequirements{Size: 1 << 20, Alignment: 256, TypeBits: ^uint32(0)},
		alloc.AllocationOptions{Name: "dedicated", Dedicated: true})
	require.NoError(t, err)
	return al
}
