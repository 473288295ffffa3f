package assets_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/internal/render"
	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/vktest"
)

// openSubmitValidatedEnv is openDefragEnv with synchronization validation
// between submissions too (vktest.Options.SubmitValidation), and a Sync
// that tracks completion with fences: the layer does not see host waits on
// a timeline semaphore, and would report every reuse of memory after one.
func openSubmitValidatedEnv(t *testing.T, frames int) *defragEnv {
	d := vktest.OpenWith(t, vktest.Options{SubmitValidation: true})
	a, err := alloc.New(alloc.Options{Device: d, PreferredBlockSize: 1 << 20})
	require.NoError(t, err)
	s, err := framesync.New(framesync.Options{Device: d, Allocator: a, FramesInFlight: frames, UseFences: true})
	require.NoError(t, err)
	m, err := assets.New(assets.Options{Device: d, Allocator: a, Sync: s, Logger: vktest.Logger(t)})
	require.NoError(t, err)
	r, err := render.New(m, d, a, s, 64, 64)
	require.NoError(t, err)
	return &defragEnv{d: d, a: a, s: s, m: m, r: r}
}

// TestDefragMovedDataReadInFrame: a defragmentation pass run while a frame
// is recorded puts its copies in the frame's submission, in a command
// buffer before the frame's; the frame then draws the cube from its moved
// vertex and index buffers and samples moved textures. Nothing else is
// uploaded in those frames, so only the pass's own barriers order the
// copies' writes before those reads. Without them (or with too narrow
// ones) the layer, checking at vkQueueSubmit, reports the sampling as a
// SYNC-HAZARD-READ-AFTER-WRITE; it does not check vertex and index reads
// across command buffers, which vktest.VertexReads does. The pictures
// stay those of before the moves.
func TestDefragMovedDataReadInFrame(t *testing.T) {
	e := openSubmitValidatedEnv(t, 2)
	ctx := context.Background()
	// Junk first, then the cube and the drawn textures: releasing the junk
	// leaves the holes below them that a full defragmentation fills.
	var junk []assets.Asset
	for i := range 24 {
		if i%2 == 0 {
			b, err := e.m.NewBuffer(fmt.Sprintf("junk-buf-%d", i), vk.BufferUsageVertex, make([]byte, 8<<10))
			require.NoError(t, err)
			junk = append(junk, b)
			continue
		}
		tex, err := newTexture(e.m, fmt.Sprintf("junk-%d", i), uint64(i), 32)
		require.NoError(t, err)
		junk = append(junk, tex)
	}
	b, err := e.m.AddBundle("content", assets.SampleContent())
	require.NoError(t, err)
	cube, err := b.LoadScene(ctx, "scenes/cube.glb")
	require.NoError(t, err)
	sc := &scene{cube: cube.Meshes[0]}
	for i := range 4 {
		tex, err := newTexture(e.m, fmt.Sprintf("drawn-%d", i), uint64(100+i), 32)
		require.NoError(t, err)
		sp, err := e.m.NewSpriteFrame(fmt.Sprintf("sprite-%d", i), tex, image.Rect(0, 0, 32, 32))
		require.NoError(t, err)
		sc.texs, sc.sprites = append(sc.texs, tex), append(sc.sprites, sp)
	}
	l := &frameLoop{e: e, sc: sc}
	var want []byte
	l.frame(t, nil, func(img *image.RGBA) { want = img.Pix })
	l.drain(t, func(img *image.RGBA) { want = img.Pix })
	for _, a := range junk {
		drop(e.m, a)
	}
	require.NoError(t, e.s.WaitIdle()) // the junk's objects retired, nothing in flight

	vgen, igen := sc.cube.Vertices.Generation(), sc.cube.Indices.Generation()
	tgen := make([]uint64, len(sc.texs))
	for i, tex := range sc.texs {
		tgen[i] = tex.Generation()
	}
	texMoved := func() bool {
		for i, tex := range sc.texs {
			if tex.Generation() != tgen[i] {
				return true
			}
		}
		return false
	}
	// The layer does not check vertex and index reads across command
	// buffers (1.3.239): VertexReads does.
	reads := vktest.WatchVertexReads(t, e.d)
	require.NoError(t, e.m.SetDefrag(assets.DefragPolicy{MaxBytesPerFrame: 1 << 20, Algorithm: alloc.DefragFull}))
	same, total := 0, 0
	check := func(img *image.RGBA) {
		total++
		if bytes.Equal(img.Pix, want) {
			same++
		}
	}
	step := func() {
		_, err := e.m.DefragFrame()
		require.NoError(t, err)
	}
	for i := 0; i < 16 && (sc.cube.Vertices.Generation() == vgen || sc.cube.Indices.Generation() == igen || !texMoved()); i++ {
		l.frame(t, step, check)
	}
	l.drain(t, check)
	t.Logf("%d frames; the cube's vertices moved %d times, its indices %d times; %+v", l.frames,
		sc.cube.Vertices.Generation()-vgen, sc.cube.Indices.Generation()-igen, e.m.DefragStats())
	require.Greater(t, sc.cube.Vertices.Generation(), vgen, "the cube's vertex buffer moved in a frame that draws it")
	require.Greater(t, sc.cube.Indices.Generation(), igen, "the cube's index buffer moved in a frame that draws it")
	require.True(t, texMoved(), "a drawn texture moved in a frame that samples it")
	require.Equal(t, total, same, "frames identical to the one before the moves")
	require.GreaterOrEqual(t, reads.Checked(), 2, "the draws' reads of the moved vertices and indices were checked")
	e.close(t)
}
