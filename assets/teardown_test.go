package assets_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/vktest"
)

// The teardown matrix (DESIGN.md invariant 14): every order of closing the
// frame sync, the allocator and the manager, in every state of the work —
// idle, a frame recording (with a batched upload and a claimed sprite in
// it), frames in flight, loads in flight, and the closes made from another
// goroutine while frames render — ends with no crash, no validation error
// (the device, closed last by vktest, reports any object left), ErrClosed
// from each layer afterwards, and every allocation freed: an allocator
// closed under live allocations names them (ErrLeaks) and frees their
// blocks when the layers above let go.

type layer struct {
	name  string
	close func(*teardown) error
}

type teardown struct {
	d *vk.Device
	a *alloc.Allocator
	s *framesync.Sync
	m *assets.Manager
	b *assets.Bundle
}

var layers = []layer{
	{"sync", func(td *teardown) error { return td.s.Close() }},
	{"allocator", func(td *teardown) error { return td.a.Close() }},
	{"manager", func(td *teardown) error { return td.m.Close() }},
}

func permutations(n int) [][]int {
	if n == 1 {
		return [][]int{{0}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(append([]int{}, p[:i]...), n-1), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}

// acceptable are the errors a Close may return in these orders: leaks named
// by an allocator closed under live allocations, objects of a frame never
// submitted, and ErrClosed of a lower layer.
func acceptable(err error) bool {
	return err == nil || errors.Is(err, alloc.ErrLeaks) || errors.Is(err, framesync.ErrUnsubmitted) || errors.Is(err, vk.ErrClosed) ||
		errors.Is(err, framesync.ErrClosed) || errors.Is(err, alloc.ErrClosed) || errors.Is(err, assets.ErrClosed)
}

// closedErr: what a load, an allocation or a frame may fail with once one
// of the layers it needs is closed.
func closedErr(err error) bool {
	return errors.Is(err, assets.ErrClosed) || errors.Is(err, framesync.ErrClosed) || errors.Is(err, alloc.ErrClosed) || errors.Is(err, vk.ErrClosed)
}

func TestTeardownMatrix(t *testing.T) {
	states := []string{"idle", "recording", "in-flight", "loads", "other-goroutine"}
	for _, deviceFirst := range []bool{false, true} {
		for _, order := range permutations(len(layers)) {
			names := ""
			if deviceFirst {
				names = "device-"
			}
			for _, i := range order {
				names += layers[i].name + "-"
			}
			for _, state := range states {
				t.Run(names+state, func(t *testing.T) { teardownCase(t, order, state, deviceFirst) })
			}
		}
	}
}

// With the device closed first (it waits for the GPU, then is gone), the
// layers above cannot give their objects back: they answer ErrClosed, the
// allocator names every allocation still live, and the validation layer
// names the objects the device was destroyed with — reported, not silent,
// and no crash.
func teardownCase(t *testing.T, order []int, state string, deviceFirst bool) {
	var d *vk.Device
	if deviceFirst {
		d = vktest.OpenWith(t, vktest.Options{Expect: []string{"VUID-vkDestroyDevice-device-00378"}})
		order = append([]int{-1}, order...)
	} else {
		d = vktest.Open(t)
	}
	a, err := alloc.New(alloc.Options{Device: d})
	require.NoError(t, err)
	s, err := framesync.New(framesync.Options{Device: d, Allocator: a, FramesInFlight: 2})
	require.NoError(t, err)
	m, err := assets.New(assets.Options{Device: d, Allocator: a, Sync: s})
	require.NoError(t, err)
	b, err := m.AddBundle("content", content)
	require.NoError(t, err)
	td := &teardown{d: d, a: a, s: s, m: m, b: b}
	ctx := context.Background()
	hero, err := b.Acquire(ctx, "hero.png")
	require.NoError(t, err)
	sprite := hero.(*assets.SpriteFrame)
	_, err = b.Load(ctx, "scenes/quad.gltf")
	require.NoError(t, err)

	closeAll := func() {
		for _, i := range order {
			if i < 0 {
				d.Close()
				continue
			}
			err := layers[i].close(td)
			require.True(t, acceptable(err), "close %s: %v", layers[i].name, err)
			require.NoError(t, layers[i].close(td), "a second close of %s", layers[i].name)
		}
	}
	var frame *framesync.Frame
	var wg sync.WaitGroup
	switch state {
	case "idle":
		require.NoError(t, s.Flush(ctx))
		closeAll()
	case "recording":
		frame, err = s.BeginFrame(ctx)
		require.NoError(t, err)
		tex, _, err := sprite.Claim(frame.Serial())
		require.NoError(t, err)
		d.CmdBarrier(frame.Cmd, vk.Barrier{SrcStage: vk.StageFragmentShader, DstStage: vk.StageFragmentShader,
			SrcAccess: vk.AccessShaderRead, DstAccess: vk.AccessShaderRead, Image: tex.Handles().Image,
			OldLayout: vk.LayoutShaderReadOnlyOptimal, NewLayout: vk.LayoutShaderReadOnlyOptimal})
		_, err = b.Load(ctx, "icons/star.png") // its upload is batched into the frame
		require.NoError(t, err)
		closeAll()
		err = s.EndFrame(frame) // the recorder ends its frame after the closes
		require.True(t, err == nil || errors.Is(err, framesync.ErrClosed), "end frame: %v", err)
	case "in-flight":
		for range 2 {
			f, err := s.BeginFrame(ctx)
			require.NoError(t, err)
			_, _, err = sprite.Claim(f.Serial())
			require.NoError(t, err)
			require.NoError(t, s.EndFrame(f))
		}
		closeAll()
	case "loads":
		files := []string{"checker.png", "scenes/cube.glb", "icons/coin.png", "logo.jpg"}
		for g := range 4 {
			wg.Go(func() {
				for i := 0; ; i++ {
					x, err := b.Acquire(ctx, files[(g+i)%len(files)])
					if err != nil {
						if !closedErr(err) {
							t.Errorf("load: %v", err)
						}
						return
					}
					_ = m.DecRef(x)
				}
			})
		}
		time.Sleep(5 * time.Millisecond)
		closeAll()
		wg.Wait()
	case "other-goroutine":
		done := make(chan struct{})
		wg.Go(func() {
			defer close(done)
			time.Sleep(5 * time.Millisecond)
			for _, i := range order {
				if i < 0 {
					d.Close()
					continue
				}
				if err := layers[i].close(td); !acceptable(err) {
					t.Errorf("close %s: %v", layers[i].name, err)
				}
			}
		})
		for rendering := true; rendering; {
			select {
			case <-done:
				rendering = false
			default:
			}
			f, err := s.BeginFrame(ctx)
			if err != nil {
				require.True(t, closedErr(err), "begin frame: %v", err)
				break
			}
			if _, _, err := sprite.Claim(f.Serial()); err != nil {
				require.ErrorIs(t, err, assets.ErrReleased)
			}
			if x, err := b.Load(ctx, "icons/heart.png"); err == nil {
				_ = assets.Use(f.Serial(), x)
			} else {
				require.True(t, closedErr(err), "load: %v", err)
			}
			if err := s.EndFrame(f); err != nil {
				require.True(t, closedErr(err), "end frame: %v", err)
			}
		}
		wg.Wait()
	}

	// Afterwards every layer answers ErrClosed.
	_, err = b.Load(ctx, "hero.png")
	require.ErrorIs(t, err, assets.ErrClosed)
	_, _, err = a.CreateBuffer(64, vk.BufferUsageTransferSrc, alloc.AllocationOptions{})
	require.ErrorIs(t, err, alloc.ErrClosed)
	_, err = s.BeginFrame(ctx)
	require.ErrorIs(t, err, framesync.ErrClosed)
	if deviceFirst {
		return // the allocations stay, named by a.Leaks and the layer
	}
	require.Empty(t, a.Leaks(), "every allocation freed once every layer let go")
	require.Equal(t, assets.Destroyed, sprite.Texture().State(), fmt.Sprintf("order %v", order))
}
