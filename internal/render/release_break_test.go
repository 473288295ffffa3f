package render_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/internal/render"
)

// TestDrawWhileReleased: one goroutine renders the sample cube's scene
// frame after frame while another force-releases and reloads it. Each
// draw either claims the whole mesh or fails with assets.ErrReleased
// having recorded nothing of it; the validation layers (synchronization
// included) see no buffer, image, view or sampler destroyed while a frame
// uses it.
func TestDrawWhileReleased(t *testing.T) {
	st := newStack(t, 32)
	b, err := st.m.AddBundle("content", assets.SampleContent())
	require.NoError(t, err)
	ctx := context.Background()
	var mu sync.Mutex // guards scene
	scene, err := b.LoadScene(ctx, "scenes/cube.glb")
	require.NoError(t, err)
	stop := make(chan struct{})
	released := make(chan int)
	go func() {
		n := 0
		defer func() { released <- n }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := b.Release("scenes/cube.glb"); err == nil {
				n++
			}
			st.m.ReleaseUnused() // the mesh, its buffers, material, texture, sampler
			s, err := b.LoadScene(ctx, "scenes/cube.glb")
			if err != nil {
				t.Errorf("reload: %v", err)
				return
			}
			mu.Lock()
			scene = s
			mu.Unlock()
			time.Sleep(2 * time.Millisecond) // a few frames draw it
		}
	}()
	drawn, refused := 0, 0
	for range 60 {
		mu.Lock()
		s := scene
		mu.Unlock()
		st.frame(t, func(f *framesync.Frame) error {
			err := st.r.DrawScene(f, s, render.Identity(), [4]float32{1, 1, 1, 1})
			switch {
			case err == nil:
				drawn++
			case errors.Is(err, assets.ErrReleased):
				refused++
			default:
				return err
			}
			return nil
		})
	}
	close(stop)
	n := <-released
	t.Logf("%d frames drew the scene, %d were refused it; %d releases", drawn, refused, n)
	require.Positive(t, n)
}

// TestDrawReleasedMesh: a primitive's index buffer cannot be released
// from under its mesh; a mesh force-released (its buffers with it, once
// unused) is refused by DrawMesh with assets.ErrReleased.
func TestDrawReleasedMesh(t *testing.T) {
	st := newStack(t, 32)
	b, err := st.m.AddBundle("content", assets.SampleContent())
	require.NoError(t, err)
	scene, err := b.LoadScene(context.Background(), "scenes/cube.glb")
	require.NoError(t, err)
	mesh := scene.Meshes[0]
	// The index buffer alone cannot go while its mesh depends on it, not
	// even by force: the draw below it still has it.
	_, err = st.m.Release(mesh.Primitives[0].Indices, true)
	require.ErrorIs(t, err, assets.ErrInUse)
	st.frame(t, func(f *framesync.Frame) error {
		return st.r.DrawMesh(f, mesh, render.Identity(), [4]float32{1, 1, 1, 1})
	})
	_, err = st.m.Release(scene, true)
	require.NoError(t, err)
	st.m.ReleaseUnused()
	require.Equal(t, assets.Destroyed, mesh.State())
	st.frame(t, func(f *framesync.Frame) error {
		err := st.r.DrawMesh(f, mesh, render.Identity(), [4]float32{1, 1, 1, 1})
		require.ErrorIs(t, err, assets.ErrReleased)
		return nil
	})
}

// TestDrawForeignMesh: assets the manager never made (nil, zero values,
// a mesh whose primitive has no vertex buffer, a zero mesh over a real
// mesh's primitives, which would claim nothing) are refused with an
// error, not a nil dereference, and nothing is recorded.
func TestDrawForeignMesh(t *testing.T) {
	st := newStack(t, 32)
	b, err := st.m.AddBundle("content", assets.SampleContent())
	require.NoError(t, err)
	cube, err := b.LoadScene(context.Background(), "scenes/cube.glb")
	require.NoError(t, err)
	meshes := []*assets.Mesh{nil, {}, {Primitives: []*assets.Primitive{{VertexCount: 3}}}, {Primitives: []*assets.Primitive{nil}},
		{Primitives: cube.Meshes[0].Primitives}}
	st.frame(t, func(f *framesync.Frame) error {
		for i, mesh := range meshes {
			require.Error(t, st.r.DrawMesh(f, mesh, render.Identity(), [4]float32{1, 1, 1, 1}), "mesh %d", i)
		}
		require.ErrorIs(t, st.r.DrawMesh(f, meshes[4], render.Identity(), [4]float32{1, 1, 1, 1}), assets.ErrReleased)
		require.Error(t, st.r.DrawSprite(f, nil, 0, 0, 1, 1, [4]float32{1, 1, 1, 1}))
		require.ErrorIs(t, st.r.DrawSprite(f, &assets.SpriteFrame{}, 0, 0, 1, 1, [4]float32{1, 1, 1, 1}), assets.ErrReleased)
		require.Error(t, st.r.DrawScene(f, nil, render.Identity(), [4]float32{1, 1, 1, 1}))
		return nil
	})
}
