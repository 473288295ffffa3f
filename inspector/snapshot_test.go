package inspector_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/finalizer"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/inspector"
	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/vktest"
)

type snapEnv struct {
	dev *vk.Device
	a   *alloc.Allocator
	s   *framesync.Sync
	m   *assets.Manager
	b   *assets.Bundle
	fin *finalizer.Finalizer
}

func openSnapEnv(t *testing.T) *snapEnv {
	t.Helper()
	d := vktest.Open(t)
	a, err := alloc.New(alloc.Options{Device: d})
	require.NoError(t, err)
	s, err := framesync.New(framesync.Options{Device: d, Allocator: a, FramesInFlight: 2})
	require.NoError(t, err)
	m, err := assets.New(assets.Options{Device: d, Allocator: a, Sync: s})
	require.NoError(t, err)
	b, err := m.AddBundle("content", os.DirFS("../assets/testdata/content"))
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, m.Close())
		require.NoError(t, s.Close())
		require.NoError(t, a.Close(), "shutdown: nothing alive")
	})
	return &snapEnv{dev: d, a: a, s: s, m: m, b: b, fin: finalizer.New(m)}
}

// heldFrame submits a frame that uses sprite and waits for a semaphore the
// host has not signalled; release lets it run.
func (e *snapEnv) heldFrame(t *testing.T, sprite *assets.SpriteFrame) (framesync.Serial, func()) {
	t.Helper()
	gate, err := e.dev.CreateTimelineSemaphore(0)
	require.NoError(t, err)
	f, err := e.s.BeginFrame(context.Background())
	require.NoError(t, err)
	tex, _, err := sprite.Claim(f.Serial())
	require.NoError(t, err)
	e.dev.CmdBarrier(f.Cmd, vk.Barrier{SrcStage: vk.StageFragmentShader, DstStage: vk.StageFragmentShader,
		SrcAccess: vk.AccessShaderRead, DstAccess: vk.AccessShaderRead, Image: tex.Handles().Image,
		OldLayout: vk.LayoutShaderReadOnlyOptimal, NewLayout: vk.LayoutShaderReadOnlyOptimal})
	serial := f.Serial()
	require.NoError(t, e.s.EndFrameWith(f, []vk.SemaphoreSubmit{{Semaphore: gate, Value: 1, Stage: vk.StageAllCommands}}, nil))
	released := false
	release := func() {
		if released {
			return
		}
		released = true
		require.NoError(t, e.dev.SignalSemaphore(gate, 1))
		require.NoError(t, e.dev.QueueWaitIdle())
	}
	t.Cleanup(func() {
		release() // a failed check must not leave Close waiting for the frame
		e.dev.DestroySemaphore(gate)
	})
	return serial, release
}

func names(es []inspector.DiffEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Kind+" "+e.Name)
	}
	return out
}

// TestSnapshotStillWaiting: a texture released while a frame that used it
// is in flight leaves the cache at once, but its memory stays with the
// allocator until the GPU has finished that frame. The diff lists it as
// freed and still waiting, with its bytes and serial; after the frame
// completes and Poll retires it, as freed only.
func TestSnapshotStillWaiting(t *testing.T) {
	e := openSnapEnv(t)
	sprite, err := e.b.LoadSpriteFrame(context.Background(), "hero.png")
	require.NoError(t, err)
	tex := sprite.Texture()
	texBytes := tex.Handles().Memory.Size
	require.NotZero(t, texBytes)
	serial, release := e.heldFrame(t, sprite)

	before := inspector.Take(e.m, e.a, e.s)
	require.Equal(t, serial, before.Issued)
	require.Less(t, before.Completed, serial)
	require.Len(t, before.Assets, 3, "image, texture, sprite")
	var texEntry inspector.SnapshotAsset
	for _, a := range before.Assets {
		if a.ID == tex.ID() {
			texEntry = a
		}
	}
	require.Equal(t, texBytes, texEntry.Bytes)
	require.True(t, texEntry.GPU)
	im, ok := e.m.Lookup("content:hero.png#image")
	require.True(t, ok)
	require.Equal(t, []assets.ID{assets.BaseOf(im).ID()}, texEntry.Deps)
	owned := 0
	for _, al := range before.Allocations {
		if al.Asset == tex.ID() {
			owned++
			require.Equal(t, texBytes, al.Size)
			require.Equal(t, tex.Name(), al.Name)
		}
	}
	require.Equal(t, 1, owned, "the texture's allocation is told by its owner")

	require.NoError(t, e.fin.ForceRelease(sprite))
	e.fin.Collect()
	_, err = e.s.Poll()
	require.NoError(t, err)
	require.Equal(t, assets.Retiring, tex.State())

	during := inspector.Take(e.m, e.a, e.s)
	d := inspector.Diff(before, during)
	require.ElementsMatch(t, []string{"sprite content:hero.png#sprite", "texture content:hero.png#texture", "image content:hero.png#image"}, names(d.Freed))
	require.Empty(t, d.Survived)
	require.Empty(t, d.Added)
	require.Equal(t, []string{"texture content:hero.png#texture"}, names(d.StillWaiting), "freed from the cache, its memory waits for the GPU")
	require.Equal(t, texBytes, d.StillWaitingBytes)
	require.Equal(t, serial, d.StillWaiting[0].Serial)
	require.Equal(t, before.AssetBytes, d.FreedBytes)
	require.Zero(t, during.AssetBytes, "the cache says 0 bytes")
	require.GreaterOrEqual(t, during.PendingBytes, texBytes, "the allocator still holds them")
	require.GreaterOrEqual(t, during.AllocationBytes, texBytes)

	release()
	_, err = e.s.Poll()
	require.NoError(t, err)
	require.Equal(t, assets.Destroyed, tex.State())
	after := inspector.Take(e.m, e.a, e.s)
	require.Empty(t, after.Pending)
	d = inspector.Diff(before, after)
	require.Len(t, d.Freed, 3)
	require.Empty(t, d.StillWaiting, "retired: no longer waiting")
	require.Zero(t, d.StillWaitingBytes)
	require.Empty(t, inspector.Diff(during, after).StillWaiting)
}

// TestSnapshotJSON: a snapshot read back from its JSON is the same value;
// broken input is an error that says what is wrong without echoing it.
func TestSnapshotJSON(t *testing.T) {
	e := openSnapEnv(t)
	sprite, err := e.b.LoadSpriteFrame(context.Background(), "hero.png")
	require.NoError(t, err)
	_, release := e.heldFrame(t, sprite)
	require.NoError(t, e.fin.ForceRelease(sprite))
	e.fin.Collect()
	s := inspector.Take(e.m, e.a, e.s)
	require.NotEmpty(t, s.Pending)
	require.NotEmpty(t, s.Allocations)
	var buf bytes.Buffer
	require.NoError(t, s.WriteJSON(&buf))
	require.Contains(t, buf.String(), `"pending_bytes"`, "snake_case")
	got, err := inspector.ReadSnapshot(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	require.Equal(t, s, got)
	release()

	secret := "s3cr3t-payload"
	for _, c := range []struct{ in, want string }{
		{"", "empty input"},
		{`{"version": 1, "assets": [`, "truncated"},
		{`{"version": 1, "assets": [` + secret, "invalid JSON at byte"},
		{`{"assets": []}`, `no "version" field`},
		{`{"version": 2}`, "format version 2, want 1"},
		{`{"version": 1, "frames": "` + secret + `"}`, `field "frames": a JSON string`},
		{`{"version": 1, "` + secret + `": 1}`, "unknown field"},
		{`{"version": 1} {"version": 1}`, "data after the snapshot"},
	} {
		_, err := inspector.ReadSnapshot(strings.NewReader(c.in))
		require.Error(t, err, c.in)
		require.True(t, errors.Is(err, inspector.ErrSnapshotFormat), err.Error())
		require.Contains(t, err.Error(), c.want)
		if !strings.Contains(c.want, "unknown field") {
			require.NotContains(t, err.Error(), secret, "no payload echoed")
		}
	}
}
