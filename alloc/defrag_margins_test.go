package alloc_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/alloc/simdev"
)

func TestDefragWithMargins(t *testing.T) {
	d, err := simdev.Load("1080 Ti")
	require.NoError(t, err)
	a, err := alloc.New(alloc.Options{Device: d, PreferredBlockSize: 16 << 20, DetectCorruption: true})
	require.NoError(t, err)
	bufs := fragmentSim(t, a, 600, 5)
	dfr, err := a.BeginDefragmentation(alloc.DefragOptions{Algorithm: alloc.DefragFull, MaxMovesPerPass: 200, MaxBytesPerPass: 8 << 20})
	require.NoError(t, err)
	for i := 0; len(simPass(t, d, a, dfr, func(any) bool { return true })) > 0; i++ {
		require.Less(t, i, 100)
	}
	st := dfr.End()
	t.Logf("%+v", st)
	require.Positive(t, st.BlocksFreed)
	checkSimContents(t, bufs)
	require.NoError(t, a.CheckCorruption(^uint32(0)))
	for _, x := range bufs {
		require.NoError(t, a.DestroyBuffer(x.buf, x.al))
	}
	require.NoError(t, a.Close())
	require.Empty(t, d.Violations())
}
