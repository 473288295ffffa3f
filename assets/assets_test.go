package assets_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/vktest"
)

type env struct {
	dev   *vk.Device
	alloc *alloc.Allocator
	sync  *framesync.Sync
	m     *assets.Manager
	b     *assets.Bundle
}

var content = os.DirFS("testdata/content")

// open gives a test a validated device, an allocator, a frame sync and a
// manager with the sample content as bundle "content". At the end
// everything is closed and nothing may leak.
func open(t testing.TB, opts assets.Options) *env {
	t.Helper()
	return openOn(t, vktest.Open(t), opts)
}

// openOn is open on a device the test opened.
func openOn(t testing.TB, d *vk.Device, opts assets.Options) *env {
	t.Helper()
	a, err := alloc.New(alloc.Options{Device: d, Logger: vktest.Logger(t)})
	require.NoError(t, err)
	s, err := framesync.New(framesync.Options{Device: d, Allocator: a})
	require.NoError(t, err)
	opts.Device, opts.Allocator, opts.Sync = d, a, s
	m, err := assets.New(opts)
	require.NoError(t, err)
	b, err := m.AddBundle("content", content)
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, m.Close())
		require.NoError(t, s.Close())
		require.NoError(t, a.Close(), "no allocation may outlive the assets")
	})
	return &env{dev: d, alloc: a, sync: s, m: m, b: b}
}

func (e *env) liveAllocations() int {
	n := 0
	for _, b := range e.alloc.Blocks() {
		if b.Pool != "" {
			continue // the staging ring
		}
		for _, r := range b.Ranges {
			if !r.Free {
				n++
			}
		}
	}
	return n
}

func TestLoadImageChain(t *testing.T) {
	e := open(t, assets.Options{})
	sprite, err := e.b.LoadSpriteFrame(context.Background(), "hero.png")
	require.NoError(t, err)
	tex := sprite.Texture()
	deps := assets.BaseOf(tex).Deps()
	require.Len(t, deps, 1)
	img := deps[0].(*assets.ImageAsset)

	require.Equal(t, "content:hero.png#sprite", sprite.Key())
	require.Equal(t, "content:hero.png#texture", tex.Key())
	require.Equal(t, "content:hero.png#image", img.Key())
	require.NotEqual(t, sprite.ID(), tex.ID())
	require.NotEqual(t, tex.ID(), img.ID())
	// Cocos's counting: the root starts at 0, each dependency holds 1.
	require.Equal(t, 0, sprite.RefCount())
	require.Equal(t, 1, tex.RefCount())
	require.Equal(t, 1, img.RefCount())
	require.Equal(t, uint32(32), tex.Width)
	require.NotZero(t, tex.Handles().Image)
	require.NotZero(t, tex.Handles().View)
	require.Nil(t, img.Pixels(), "pixels are dropped after the upload")
	require.Equal(t, assets.Ready, sprite.State())
	require.NotZero(t, tex.LastUse(), "the texture carries its upload's serial")

	again, err := e.m.Load(context.Background(), "content:hero.png")
	require.NoError(t, err)
	require.Same(t, sprite, again, "a cached key returns the same object")
	require.Equal(t, 1, tex.RefCount(), "a cache hit counts nothing")
	got, ok := e.m.Get(tex.ID())
	require.True(t, ok)
	require.Same(t, tex, got)
}

// TestUploadedPixels reads a texture back to check the upload.
func TestUploadedPixels(t *testing.T) {
	e := open(t, assets.Options{KeepPixels: true})
	tex, err := e.b.LoadTexture(context.Background(), "checker.png")
	require.NoError(t, err)
	want := assets.BaseOf(tex).Deps()[0].(*assets.ImageAsset).Pixels()
	require.Len(t, want, 64*64*4)
	size := uint64(len(want))
	buf, mem, err := e.alloc.CreateBuffer(size, vk.BufferUsageTransferDst, alloc.AllocationOptions{Usage: alloc.UsageReadback, Mapped: true})
	require.NoError(t, err)
	serial, err := e.sync.OneShot(func(cmd vk.CommandBuffer) error {
		d := e.dev
		d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageFragmentShader, DstStage: vk.StageTransfer, SrcAccess: vk.AccessShaderRead, DstAccess: vk.AccessTransferRead,
			Image: tex.Handles().Image, OldLayout: vk.LayoutShaderReadOnlyOptimal, NewLayout: vk.LayoutTransferSrcOptimal})
		d.CmdCopyImageToBuffer(cmd, tex.Handles().Image, vk.LayoutTransferSrcOptimal, buf, vk.BufferImageCopy{Width: 64, Height: 64})
		d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageHost, SrcAccess: vk.AccessTransferWrite, DstAccess: vk.AccessHostRead})
		d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageFragmentShader, SrcAccess: vk.AccessTransferRead, DstAccess: vk.AccessShaderRead,
			Image: tex.Handles().Image, OldLayout: vk.LayoutTransferSrcOptimal, NewLayout: vk.LayoutShaderReadOnlyOptimal})
		return nil
	})
	require.NoError(t, err)
	assets.Use(serial, tex)
	require.NoError(t, e.sync.Wait(context.Background(), serial))
	require.NoError(t, e.alloc.Invalidate(mem, 0, size))
	require.True(t, bytes.Equal(want, mem.Mapped), "the texture holds the image's pixels")
	require.NoError(t, e.alloc.DestroyBuffer(buf, mem))
}

// TestCountingRules are Cocos's and Galacean's counting rules, one by one.
func TestCountingRules(t *testing.T) {
	ctx := context.Background()
	t.Run("shared dependency counts each dependent", func(t *testing.T) {
		e := open(t, assets.Options{})
		scene, err := e.b.LoadScene(ctx, "scenes/quad.gltf")
		require.NoError(t, err)
		tex := scene.Meshes[0].Material.BaseTexture
		require.Equal(t, 1, tex.RefCount(), "held by the material")
		sprite, err := e.b.LoadSpriteFrame(ctx, "scenes/quad_albedo.png")
		require.NoError(t, err)
		require.Same(t, tex, sprite.Texture(), "the scene's image file and the direct load share keys")
		require.Equal(t, 2, tex.RefCount())
	})
	t.Run("release decrements each direct dependency once and keeps shared ones", func(t *testing.T) {
		e := open(t, assets.Options{})
		scene, err := e.b.LoadScene(ctx, "scenes/quad.gltf")
		require.NoError(t, err)
		sprite, err := e.b.LoadSpriteFrame(ctx, "scenes/quad_albedo.png")
		require.NoError(t, err)
		tex := sprite.Texture()
		mesh := scene.Meshes[0]
		n, err := e.m.Release(scene, false)
		require.NoError(t, err)
		require.Equal(t, 6, n, "the scene, its mesh, two buffers, the material and its sampler; not the shared texture")
		require.Equal(t, assets.Destroyed, scene.State(), "a scene owns no GPU object: nothing to wait for")
		require.NotEqual(t, assets.Ready, mesh.State(), "the mesh had no other holder")
		require.Equal(t, 1, tex.RefCount(), "the sprite still holds the texture")
		require.Equal(t, assets.Ready, tex.State())
		_, cached := e.m.Lookup(scene.Key())
		require.False(t, cached)
	})
	t.Run("a held asset is not released", func(t *testing.T) {
		e := open(t, assets.Options{})
		sprite, err := e.b.LoadSpriteFrame(ctx, "icons/star.png")
		require.NoError(t, err)
		require.NoError(t, e.m.AddRef(sprite))
		n, err := e.m.Release(sprite, false)
		require.ErrorIs(t, err, assets.ErrInUse)
		require.Zero(t, n)
		require.Equal(t, assets.Ready, sprite.State())
		require.NoError(t, e.m.DecRef(sprite))
		require.ErrorIs(t, e.m.DecRef(sprite), assets.ErrRefCount, "the count never goes below 0")
		n, err = e.m.Release(sprite, false)
		require.NoError(t, err)
		require.Equal(t, 3, n, "the sprite, its texture and its image")
		require.ErrorIs(t, e.m.AddRef(sprite), assets.ErrReleased)
	})
	t.Run("a new load of a released key never returns the released object", func(t *testing.T) {
		e := open(t, assets.Options{})
		first, err := e.b.LoadSpriteFrame(ctx, "icons/coin.png")
		require.NoError(t, err)
		_, err = e.m.Release(first, false)
		require.NoError(t, err)
		second, err := e.b.LoadSpriteFrame(ctx, "icons/coin.png")
		require.NoError(t, err)
		require.NotSame(t, first, second)
		require.NotEqual(t, first.ID(), second.ID())
		require.NotEqual(t, first.Texture().ID(), second.Texture().ID())
		require.NoError(t, e.sync.Flush(ctx))
		require.Equal(t, assets.Destroyed, first.Texture().State())
	})
	t.Run("gc releases every unreferenced asset", func(t *testing.T) {
		e := open(t, assets.Options{})
		a, err := e.b.LoadSpriteFrame(ctx, "icons/heart.png")
		require.NoError(t, err)
		b, err := e.b.LoadSpriteFrame(ctx, "icons/star.png")
		require.NoError(t, err)
		require.NoError(t, e.m.AddRef(b))
		n := e.m.ReleaseUnused()
		require.Equal(t, 3, n, "heart's sprite, then its texture, then its image")
		require.Equal(t, assets.Destroyed, a.State())
		// Retiring until its upload's serial completes; destroyed at once
		// if the GPU has finished it already.
		require.Contains(t, []assets.State{assets.Retiring, assets.Destroyed}, a.Texture().State())
		require.NoError(t, e.sync.Flush(ctx))
		require.Equal(t, assets.Destroyed, a.Texture().State())
		require.Equal(t, assets.Ready, b.State())
		require.Equal(t, 1, b.Texture().RefCount())
	})
	t.Run("DecRef to 0 tells the releaser", func(t *testing.T) {
		rel := &releaser{}
		e := open(t, assets.Options{Releaser: rel})
		s, err := e.b.LoadSpriteFrame(ctx, "hero.png")
		require.NoError(t, err)
		require.NoError(t, e.m.AddRef(s))
		require.NoError(t, e.m.AddRef(s))
		require.NoError(t, e.m.DecRef(s))
		require.Empty(t, rel.got)
		require.NoError(t, e.m.DecRef(s))
		require.Equal(t, []assets.ID{s.ID()}, rel.got)
		require.ErrorIs(t, e.m.DecRef(s.Texture()), assets.ErrRefCount, "the sprite's reference is not the caller's to drop")
		require.Equal(t, 1, s.Texture().RefCount())
	})
	t.Run("assets made at run time have their own IDs", func(t *testing.T) {
		e := open(t, assets.Options{})
		px := make([]byte, 8*8*4)
		im, err := e.m.NewImage("generated", 8, 8, px)
		require.NoError(t, err)
		tex, err := e.m.NewTexture(im)
		require.NoError(t, err)
		f1, err := e.m.NewSpriteFrame("left", tex, image.Rect(0, 0, 4, 8))
		require.NoError(t, err)
		f2, err := e.m.NewSpriteFrame("right", tex, image.Rect(4, 0, 8, 8))
		require.NoError(t, err)
		require.NotEqual(t, f1.ID(), f2.ID())
		require.Empty(t, f1.Key())
		g1, _ := e.m.Get(f1.ID())
		g2, _ := e.m.Get(f2.ID())
		require.Same(t, f1, g1)
		require.Same(t, f2, g2, "one run-time frame does not overwrite another")
		require.Equal(t, 3, tex.RefCount(), "the caller's, and one per frame")
		require.Equal(t, 1, f1.RefCount(), "made at run time: the caller's reference")
		_, err = e.m.NewSpriteFrame("outside", tex, image.Rect(4, 4, 12, 12))
		require.ErrorIs(t, err, assets.ErrBadRect)
		_, err = e.m.Release(f1, false)
		require.ErrorIs(t, err, assets.ErrInUse, "the caller holds it")
		require.NoError(t, e.m.DecRef(f1))
		_, err = e.m.Release(f1, false)
		require.NoError(t, err)
		require.Equal(t, 2, tex.RefCount())
	})
}

type releaser struct {
	mu  sync.Mutex
	got []assets.ID
}

func (r *releaser) Released(assets.Asset) {}

func (r *releaser) Unreferenced(a assets.Asset) {
	r.mu.Lock()
	r.got = append(r.got, assets.BaseOf(a).ID())
	r.mu.Unlock()
}

func TestScenes(t *testing.T) {
	e := open(t, assets.Options{})
	ctx := context.Background()
	quad, err := e.b.LoadScene(ctx, "scenes/quad.gltf")
	require.NoError(t, err)
	require.Len(t, quad.Meshes, 1)
	mesh := quad.Meshes[0]
	require.Equal(t, uint32(4), mesh.VertexCount)
	require.Equal(t, uint32(6), mesh.IndexCount)
	require.Equal(t, uint64(4*assets.VertexStride), mesh.Vertices.Size)
	require.NotNil(t, mesh.Material.BaseTexture)
	require.Equal(t, "content:scenes/quad_albedo.png#texture", mesh.Material.BaseTexture.Key())

	cube, err := e.b.LoadScene(ctx, "scenes/cube.glb")
	require.NoError(t, err)
	require.Len(t, cube.Meshes, 2)
	require.Len(t, cube.Nodes, 3)
	require.Equal(t, []int{0}, cube.Roots)
	require.Same(t, cube.Meshes[0].Material, cube.Meshes[1].Material, "two meshes share one material")
	require.Equal(t, 2, cube.Meshes[0].Material.RefCount())
	require.Equal(t, 1, cube.Meshes[0].Material.BaseTexture.RefCount())
	require.Contains(t, cube.Meshes[0].Material.BaseTexture.Key(), "cube.glb#image/0", "an embedded image")

	// Use marks reach every GPU-owning asset below the scene.
	f, err := e.sync.BeginFrame(ctx)
	require.NoError(t, err)
	assets.Use(f.Serial(), cube)
	require.Equal(t, f.Serial(), cube.Meshes[0].Vertices.LastUse())
	require.Equal(t, f.Serial(), cube.Meshes[1].Indices.LastUse())
	require.Equal(t, f.Serial(), cube.Meshes[0].Material.BaseTexture.LastUse())
	require.NoError(t, e.sync.EndFrame(f))
}

// TestReleaseWhileInFlight: a texture used by a frame still on the GPU is
// unloaded at once (invalid to the CPU) but destroyed only when the frame
// completes; the validation layer would report an early destroy.
func TestReleaseWhileInFlight(t *testing.T) {
	e := open(t, assets.Options{})
	ctx := context.Background()
	sprite, err := e.b.LoadSpriteFrame(ctx, "checker.png")
	require.NoError(t, err)
	tex := sprite.Texture()
	gate, err := e.dev.CreateTimelineSemaphore(0)
	require.NoError(t, err)
	defer e.dev.DestroySemaphore(gate)
	f, err := e.sync.BeginFrame(ctx)
	require.NoError(t, err)
	// The frame reads the texture (a copy out of it).
	scratch, mem, err := e.alloc.CreateBuffer(64*64*4, vk.BufferUsageTransferDst, alloc.AllocationOptions{})
	require.NoError(t, err)
	d := e.dev
	d.CmdBarrier(f.Cmd, vk.Barrier{SrcStage: vk.StageFragmentShader, DstStage: vk.StageTransfer, SrcAccess: vk.AccessShaderRead, DstAccess: vk.AccessTransferRead,
		Image: tex.Handles().Image, OldLayout: vk.LayoutShaderReadOnlyOptimal, NewLayout: vk.LayoutTransferSrcOptimal})
	d.CmdCopyImageToBuffer(f.Cmd, tex.Handles().Image, vk.LayoutTransferSrcOptimal, scratch, vk.BufferImageCopy{Width: 64, Height: 64})
	assets.Use(f.Serial(), sprite)
	require.NoError(t, e.sync.Defer(f.Serial(), framesync.Buffer(scratch, mem)))
	require.NoError(t, e.sync.EndFrameWith(f, []vk.SemaphoreSubmit{{Semaphore: gate, Value: 1, Stage: vk.StageAllCommands}}, nil))

	n, err := e.m.Release(sprite, false)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	require.Equal(t, assets.Retiring, tex.State(), "out of the cache, its image waiting for the GPU")
	_, err = e.sync.Poll()
	require.NoError(t, err)
	require.Equal(t, assets.Retiring, tex.State())

	require.NoError(t, d.SignalSemaphore(gate, 1))
	require.NoError(t, e.sync.Flush(ctx))
	require.Equal(t, assets.Destroyed, tex.State())
}

// TestConcurrentLoads: goroutines loading overlapping keys get one object
// per key, and the counts are those of one load.
func TestConcurrentLoads(t *testing.T) {
	e := open(t, assets.Options{})
	keys := []string{"content:hero.png", "content:checker.png", "content:icons/star.png", "content:scenes/quad.gltf", "content:scenes/cube.glb"}
	results := make([][]assets.Asset, 16)
	var wg sync.WaitGroup
	for g := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range keys {
				a, err := e.m.Load(context.Background(), keys[(k+g)%len(keys)])
				if err != nil {
					t.Error(err)
					return
				}
				results[g] = append(results[g], a)
			}
		}()
	}
	wg.Wait()
	byKey := map[string]assets.Asset{}
	for _, rs := range results {
		for _, a := range rs {
			k := assets.BaseOf(a).Key()
			if prev, ok := byKey[k]; ok {
				require.Same(t, prev, a, k)
			}
			byKey[k] = a
		}
	}
	require.Len(t, byKey, len(keys))
	hero, _ := e.m.Lookup("content:hero.png#texture")
	require.Equal(t, 1, assets.BaseOf(hero).RefCount())
}

func TestBadInput(t *testing.T) {
	ctx := context.Background()
	good, err := os.ReadFile("testdata/content/hero.png")
	require.NoError(t, err)
	huge := encodeHeaderOnlyPNG(t, 20000, 1)
	fsys := fstest.MapFS{
		"truncated.png": {Data: good[:len(good)/2]},
		"garbage.jpg":   {Data: []byte("not a jpeg at all")},
		"huge.png":      {Data: huge},
		"broken.gltf":   {Data: []byte(`{"asset":{"version":"2.0"},"meshes":[{"primitives":[{"attributes":{"POSITION":7}}]}],"nodes":[{"mesh":0}]}`)},
		"notes.txt":     {Data: []byte("hello")},
		"fixed.png":     {Data: good[:10]},
	}
	e := open(t, assets.Options{})
	b, err := e.m.AddBundle("bad", fsys)
	require.NoError(t, err)
	before := e.liveAllocations()
	cases := []struct {
		path string
		want error
	}{
		{"missing.png", assets.ErrNotFound},
		{"truncated.png", assets.ErrDecode},
		{"garbage.jpg", assets.ErrDecode},
		{"huge.png", assets.ErrTooLarge},
		{"broken.gltf", assets.ErrDecode},
		{"notes.txt", assets.ErrUnknownKind},
	}
	for _, c := range cases {
		_, err := b.Load(ctx, c.path)
		require.ErrorIs(t, err, c.want, c.path)
		require.Contains(t, err.Error(), "bad:"+c.path, "the error names the key")
		for _, suffix := range []string{"#image", "#texture", "#sprite", "#scene"} {
			_, cached := e.m.Lookup("bad:" + c.path + suffix)
			require.False(t, cached, "%s%s cached after a failure", c.path, suffix)
		}
	}
	require.Equal(t, before, e.liveAllocations(), "failed loads leave no allocation")
	// A cancelled context fails the load and caches nothing.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = b.Load(cctx, "fixed.png")
	require.ErrorIs(t, err, context.Canceled)
	// The next load of a failed key retries cleanly.
	_, err = b.Load(ctx, "fixed.png")
	require.ErrorIs(t, err, assets.ErrDecode)
	fsys["fixed.png"] = &fstest.MapFile{Data: good}
	s, err := b.LoadSpriteFrame(ctx, "fixed.png")
	require.NoError(t, err)
	require.Equal(t, assets.Ready, s.State())
	_, err = e.m.AddBundle("bad", fsys)
	require.Error(t, err)
	_, err = e.m.Load(ctx, "nobundle:x.png")
	require.ErrorIs(t, err, assets.ErrNotFound)
}

// encodeHeaderOnlyPNG is a PNG whose header claims w×h; decoding its
// pixels would fail, but the size check must come first.
func encodeHeaderOnlyPNG(t *testing.T, w, h int) []byte {
	var buf bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 1, 1))
	img.Set(0, 0, color.White)
	require.NoError(t, png.Encode(&buf, img))
	data := buf.Bytes()
	// IHDR width and height, big-endian, at bytes 16..23, then its CRC.
	binary.BigEndian.PutUint32(data[16:], uint32(w))
	binary.BigEndian.PutUint32(data[20:], uint32(h))
	binary.BigEndian.PutUint32(data[29:], crc32.ChecksumIEEE(data[12:29]))
	return data
}

func TestLoadRemote(t *testing.T) {
	hero, err := os.ReadFile("testdata/content/hero.png")
	require.NoError(t, err)
	var hits atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/hero.png", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write(hero)
	})
	mux.HandleFunc("/slow.png", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/big.png", func(w http.ResponseWriter, r *http.Request) {
		w.Write(make([]byte, 4096))
	})
	srv := httptest.NewServer(mux) // listens on 127.0.0.1
	defer srv.Close()

	e := open(t, assets.Options{RemoteTimeout: 200 * time.Millisecond, RemoteMaxBytes: 2048})
	ctx := context.Background()
	url := srv.URL + "/hero.png"
	sprite, err := e.m.LoadRemote(ctx, url)
	require.NoError(t, err)
	require.Equal(t, url+"#sprite", sprite.Key())
	require.Equal(t, 0, sprite.RefCount())
	require.Equal(t, 1, sprite.Texture().RefCount())
	img := assets.BaseOf(sprite.Texture()).Deps()[0]
	require.Equal(t, url+"#image", assets.BaseOf(img).Key())
	again, err := e.m.LoadRemote(ctx, url)
	require.NoError(t, err)
	require.Same(t, sprite, again)
	require.Equal(t, int64(1), hits.Load(), "cached by URL")

	for path, want := range map[string]error{"/missing.png": assets.ErrHTTP, "/big.png": assets.ErrTooLarge, "/slow.png": context.DeadlineExceeded} {
		_, err := e.m.LoadRemote(ctx, srv.URL+path)
		require.ErrorIs(t, err, want, path)
		require.Contains(t, err.Error(), srv.URL+path)
		_, cached := e.m.Lookup(srv.URL + path + "#image")
		require.False(t, cached)
	}
}

// An asset loaded as a root starts with count 0; a holder keeps it with
// AddRef and lets go with DecRef, after which the release policy may take it.
func Example() {
	d, _ := vk.Open(vk.Options{})
	defer d.Close()
	a, _ := alloc.New(alloc.Options{Device: d})
	s, _ := framesync.New(framesync.Options{Device: d, Allocator: a})
	m, _ := assets.New(assets.Options{Device: d, Allocator: a, Sync: s})
	b, _ := m.AddBundle("content", os.DirFS("testdata/content"))

	hero, err := b.LoadSpriteFrame(context.Background(), "hero.png")
	if err != nil {
		panic(err)
	}
	fmt.Println("root:", hero.RefCount(), "texture:", hero.Texture().RefCount())
	_ = m.AddRef(hero) // a node shows the sprite
	fmt.Println("held:", hero.RefCount())
	_, err = m.Release(hero, false)
	fmt.Println("release while held:", errors.Is(err, assets.ErrInUse))
	_ = m.DecRef(hero) // the node is gone
	n, _ := m.Release(hero, false)
	fmt.Println("released:", n, "(the sprite, its texture, its image)")
	_ = s.Flush(context.Background()) // the texture's upload is done: it goes
	fmt.Println("texture:", hero.Texture().State())

	_ = m.Close()
	_ = s.Close()
	fmt.Println("leaks:", a.Close())
	// Output:
	// root: 0 texture: 1
	// held: 1
	// release while held: true
	// released: 3 (the sprite, its texture, its image)
	// texture: destroyed
	// leaks: <nil>
}
