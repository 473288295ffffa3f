package assets_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/vk"
)

// TestParseManifestRejects: every kind of bad manifest is refused with an
// error that wraps ErrManifest and names what is wrong.
func TestParseManifestRejects(t *testing.T) {
	for _, c := range []struct{ doc, want string }{
		{`{`, "unexpected EOF"},
		{`{"version":2,"assets":[]}`, "version 2"},
		{`{"version":1,"assets":[],"extra":1}`, `unknown field "extra"`},
		{`{"version":1,"assets":[]} {}`, "data after"},
		{`{"version":1,"assets":[{"path":"../x.png","kind":"sprite"}]}`, `path "../x.png"`},
		{`{"version":1,"assets":[{"path":"/x.png","kind":"sprite"}]}`, `path "/x.png"`},
		{`{"version":1,"assets":[{"path":"manifest.json","kind":"sprite"}]}`, `path "manifest.json"`},
		{`{"version":1,"assets":[{"path":"a.png","kind":"sprite"},{"path":"a.png","kind":"image"}]}`, `assets[1]: "a.png" is listed already as assets[0]`},
		{`{"version":1,"assets":[{"path":"a.png","kind":"mesh"}]}`, `kind "mesh": want sprite`},
		{`{"version":1,"assets":[{"path":"a.gltf","kind":"texture"}]}`, `kind "texture" needs a PNG or JPEG file, or KTX2`},
		{`{"version":1,"assets":[{"path":"a.ktx2","kind":"image"}]}`, `kind "image" needs a PNG or JPEG file (a KTX2 file loads as a texture or sprite)`},
		{`{"version":1,"assets":[{"path":"a.png","kind":"scene"}]}`, `kind "scene" needs a glTF`},
		{`{"version":1,"assets":[{"path":"a.png","kind":"sprite","deps":["b.png"]}]}`, `dependency "b.png" is not listed`},
		{`{"version":1,"assets":[{"path":"a.png","kind":"sprite","deps":["a.png"]}]}`, "depends on itself"},
		{`{"version":1,"assets":[{"path":"a.png","kind":"sprite"},{"path":"b.png","kind":"sprite","deps":["a.png","a.png"]}]}`, `dependency "a.png" given twice`},
		{`{"version":1,"assets":[{"path":"a.png","kind":"sprite"}],"preload":["b.png"]}`, `preload[0]: "b.png" is not listed`},
		{`{"version":1,"assets":[{"path":"a.png","kind":"sprite"}],"preload":["a.png","a.png"]}`, `preload[1]: "a.png" given twice`},
		{`{"version":1,"assets":[{"path":"a.png","kind":"sprite","deps":["c.png"]},{"path":"b.png","kind":"sprite","deps":["a.png"]},{"path":"c.png","kind":"sprite","deps":["b.png"]}]}`,
			"dependency cycle a.png → c.png → b.png → a.png"},
	} {
		mf, err := assets.ParseManifest([]byte(c.doc))
		require.Nil(t, mf, c.doc)
		require.ErrorIs(t, err, assets.ErrManifest, c.doc)
		require.ErrorContains(t, err, c.want, c.doc)
	}
	big := make([]byte, 2<<20)
	_, err := assets.ParseManifest(big)
	require.ErrorContains(t, err, "the limit is 1048576")
}

// TestManifestOrder: dependencies come before what needs them, each once.
func TestManifestOrder(t *testing.T) {
	mf, err := assets.ParseManifest([]byte(`{"version":1,"assets":[
		{"path":"s.gltf","kind":"scene","deps":["t.png","u.png"]},
		{"path":"t.png","kind":"texture","deps":["u.png"]},
		{"path":"u.png","kind":"image"},
		{"path":"v.png","kind":"sprite"}],
		"preload":["s.gltf","v.png"]}`))
	require.NoError(t, err)
	require.Equal(t, []string{"u.png", "t.png", "s.gltf", "v.png"}, mf.Order(mf.Preload))
	require.Equal(t, []string{"u.png", "t.png"}, mf.Order([]string{"t.png", "missing.png"}))
}

// TestBundleManifest: a bad manifest keeps the bundle out; a good one
// decides what Load returns, refuses unlisted files, and Preload loads in
// dependency order with progress, naming the file that fails.
func TestBundleManifest(t *testing.T) {
	e := open(t, assets.Options{})
	ctx := context.Background()
	hero, err := fs.ReadFile(content, "hero.png")
	require.NoError(t, err)

	bad := fstest.MapFS{"manifest.json": {Data: []byte(`{"version":1,"assets":[{"path":"hero.png","kind":"mesh"}]}`)}, "hero.png": {Data: hero}}
	_, err = e.m.AddBundle("bad", bad)
	require.ErrorIs(t, err, assets.ErrManifest)
	require.ErrorContains(t, err, `bundle "bad": manifest.json: `)
	_, ok := e.m.Bundle("bad")
	require.False(t, ok, "a bundle with a bad manifest is not added")

	good := fstest.MapFS{
		"manifest.json": {Data: []byte(`{"version":1,"assets":[
			{"path":"hero.png","kind":"texture"},
			{"path":"icons/star.png","kind":"sprite","deps":["hero.png"]},
			{"path":"gone.png","kind":"sprite"}],
			"preload":["icons/star.png"]}`)},
		"hero.png":       {Data: hero},
		"icons/star.png": {Data: hero},
		"extra.png":      {Data: hero},
	}
	b, err := e.m.AddBundle("good", good)
	require.NoError(t, err)
	require.NotNil(t, b.Manifest())
	x, err := b.Load(ctx, "extra.png")
	require.ErrorIs(t, err, assets.ErrNotFound, "not in the manifest")
	require.Nil(t, x, "a failed Load returns a nil Asset")

	var steps [][2]int
	loaded, err := b.Preload(ctx, func(done, total int) { steps = append(steps, [2]int{done, total}) })
	require.NoError(t, err)
	require.Equal(t, [][2]int{{1, 2}, {2, 2}}, steps)
	require.Len(t, loaded, 2)
	_, isTexture := loaded[0].(*assets.Texture2D)
	require.True(t, isTexture, "hero.png is listed as a texture: %T", loaded[0])
	_, isSprite := loaded[1].(*assets.SpriteFrame)
	require.True(t, isSprite, "icons/star.png is listed as a sprite: %T", loaded[1])

	// A listed file that is missing: the error names it, nothing half-made
	// is cached.
	good["manifest.json"] = &fstest.MapFile{Data: []byte(`{"version":1,"assets":[{"path":"gone.png","kind":"sprite"}],"preload":["gone.png"]}`)}
	b2, err := e.m.AddBundle("good2", good)
	require.NoError(t, err)
	_, err = b2.Preload(ctx, nil)
	require.ErrorIs(t, err, assets.ErrNotFound)
	require.ErrorContains(t, err, "gone.png")
	for _, a := range b2.Assets() {
		t.Errorf("cached after a failed preload: %v", a)
	}

	// No manifest: Preload says so, Load goes by the extension.
	plain, err := e.m.AddBundle("plain", fstest.MapFS{"extra.png": {Data: hero}})
	require.NoError(t, err)
	require.Nil(t, plain.Manifest())
	_, err = plain.Preload(ctx, nil)
	require.True(t, errors.Is(err, assets.ErrNotFound))
	require.ErrorContains(t, err, "no manifest.json")
	x, err = plain.Load(ctx, "extra.png")
	require.NoError(t, err)
	require.IsType(t, &assets.SpriteFrame{}, x)
}

// A bundle's manifest.json lists what each file yields; Preload loads the
// preload entries, dependencies first, with progress.
func ExampleBundle_Preload() {
	d, _ := vk.Open(vk.Options{})
	defer d.Close()
	a, _ := alloc.New(alloc.Options{Device: d})
	s, _ := framesync.New(framesync.Options{Device: d, Allocator: a})
	m, _ := assets.New(assets.Options{Device: d, Allocator: a, Sync: s})
	b, err := m.AddBundle("content", assets.SampleContent())
	if err != nil {
		panic(err)
	}
	var steps []string
	loaded, err := b.Preload(context.Background(), func(done, total int) {
		steps = append(steps, fmt.Sprintf("%d/%d", done, total))
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(strings.Join(steps, " "))
	for _, x := range loaded {
		fmt.Println(assets.BaseOf(x).Key())
	}
	_ = m.Close()
	_ = s.Close()
	fmt.Println("leaks:", a.Close())
	// Output:
	// 1/6 2/6 3/6 4/6 5/6 6/6
	// content:hero.png#sprite
	// content:icons/star.png#sprite
	// content:icons/coin.png#sprite
	// content:icons/heart.png#sprite
	// content:scenes/quad_albedo.png#texture
	// content:scenes/quad.gltf#scene
	// leaks: <nil>
}
