package assets

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// ManifestName is the file at a bundle's root that, when present, lists the
// bundle's assets: AddBundle reads and checks it.
const ManifestName = "manifest.json"

// ErrManifest is wrapped by every error about a bundle manifest that cannot
// be used; the message names the entry and what is wrong with it.
var ErrManifest = errors.New("assets: bad bundle manifest")

// Limits on a manifest, so that a hostile one costs little to reject.
const (
	maxManifestBytes   = 1 << 20
	maxManifestEntries = 1 << 14
)

// Manifest lists a bundle's assets, in the manner of a Cocos Creator
// bundle's config: each file with the kind of asset it yields and the
// entries it depends on, and the entries Preload loads.
//
//	{
//	  "version": 1,
//	  "assets": [
//	    {"path": "hero.png", "kind": "sprite"},
//	    {"path": "scenes/quad.gltf", "kind": "scene", "deps": ["hero.png"]}
//	  ],
//	  "preload": ["scenes/quad.gltf"]
//	}
//
// With a manifest, Bundle.Load loads only the files it lists, as the kind it
// gives; Preload loads the preload entries with their dependencies first.
type Manifest struct {
	Version int             `json:"version"` // 1
	Assets  []ManifestEntry `json:"assets"`
	Preload []string        `json:"preload,omitempty"`

	index map[string]int // path → position in Assets
}

// ManifestEntry is one file of a manifest.
type ManifestEntry struct {
	Path string `json:"path"` // slash-separated, relative to the bundle root
	// Kind is what Bundle.Load returns for the file: "sprite" (a
	// SpriteFrame), "texture" (a Texture2D) or "image" (an ImageAsset) for
	// PNG and JPEG files, "scene" for glTF.
	Kind string `json:"kind"`
	// Texture chooses, for a sprite or a texture, its colour space and
	// whether it has mips ({"linear": true, "noMips": true}); absent is sRGB
	// with a full mip chain.
	Texture TextureOptions `json:"texture,omitempty"`
	// Deps are entries loaded before this one by Preload: a scene's
	// textures, say. There may be no cycle.
	Deps []string `json:"deps,omitempty"`
}

// Manifest kinds.
const (
	KindSprite  = "sprite"
	KindTexture = "texture"
	KindImage   = "image"
	KindScene   = "scene"
)

// ParseManifest reads and checks a manifest: version 1; at most 16,384
// entries in at most 1 MiB; every path valid (fs.ValidPath), listed once,
// not the manifest itself; every kind known and fit for the file's
// extension; every dependency and preload entry listed; no dependency cycle;
// no unknown fields. Every error wraps ErrManifest.
func ParseManifest(data []byte) (*Manifest, error) {
	if len(data) > maxManifestBytes {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrManifest, len(data), maxManifestBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var mf Manifest
	if err := dec.Decode(&mf); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrManifest, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the manifest object", ErrManifest)
	}
	if mf.Version != 1 {
		return nil, fmt.Errorf("%w: version %d: want 1", ErrManifest, mf.Version)
	}
	if len(mf.Assets) > maxManifestEntries {
		return nil, fmt.Errorf("%w: %d assets, the limit is %d", ErrManifest, len(mf.Assets), maxManifestEntries)
	}
	mf.index = make(map[string]int, len(mf.Assets))
	if len(mf.Preload) == 0 {
		mf.Preload = nil // "preload": [] is no preload, as when left out
	}
	for i, e := range mf.Assets {
		if len(e.Deps) == 0 {
			mf.Assets[i].Deps = nil
		}
		if !fs.ValidPath(e.Path) || e.Path == "." || e.Path == ManifestName {
			return nil, fmt.Errorf("%w: assets[%d]: path %q: want a file path relative to the bundle root", ErrManifest, i, e.Path)
		}
		if j, ok := mf.index[e.Path]; ok {
			return nil, fmt.Errorf("%w: assets[%d]: %q is listed already as assets[%d]", ErrManifest, i, e.Path, j)
		}
		if err := kindFits(e.Kind, e.Path); err != nil {
			return nil, fmt.Errorf("%w: assets[%d] %q: %v", ErrManifest, i, e.Path, err)
		}
		mf.index[e.Path] = i
	}
	for i, e := range mf.Assets {
		seen := make(map[string]bool, len(e.Deps))
		for _, d := range e.Deps {
			switch _, ok := mf.index[d]; {
			case !ok:
				return nil, fmt.Errorf("%w: assets[%d] %q: dependency %q is not listed", ErrManifest, i, e.Path, d)
			case d == e.Path:
				return nil, fmt.Errorf("%w: assets[%d] %q: depends on itself", ErrManifest, i, e.Path)
			case seen[d]:
				return nil, fmt.Errorf("%w: assets[%d] %q: dependency %q given twice", ErrManifest, i, e.Path, d)
			}
			seen[d] = true
		}
	}
	seen := make(map[string]bool, len(mf.Preload))
	for i, p := range mf.Preload {
		if _, ok := mf.index[p]; !ok {
			return nil, fmt.Errorf("%w: preload[%d]: %q is not listed", ErrManifest, i, p)
		}
		if seen[p] {
			return nil, fmt.Errorf("%w: preload[%d]: %q given twice", ErrManifest, i, p)
		}
		seen[p] = true
	}
	if cycle := mf.cycle(); cycle != nil {
		return nil, fmt.Errorf("%w: dependency cycle %s", ErrManifest, strings.Join(cycle, " → "))
	}
	return &mf, nil
}

// kindFits checks that kind is known and that the file can yield it.
func kindFits(kind, p string) error {
	ext := strings.ToLower(path.Ext(p))
	image := ext == ".png" || ext == ".jpg" || ext == ".jpeg"
	scene := ext == ".gltf" || ext == ".glb"
	switch kind {
	case KindSprite, KindTexture:
		if !image && ext != ".ktx2" {
			return fmt.Errorf("kind %q needs a PNG or JPEG file, or KTX2", kind)
		}
	case KindImage:
		if !image {
			return fmt.Errorf("kind %q needs a PNG or JPEG file (a KTX2 file loads as a texture or sprite)", kind)
		}
	case KindScene:
		if !scene {
			return fmt.Errorf("kind %q needs a glTF file (.gltf, .glb)", kind)
		}
	default:
		return fmt.Errorf("kind %q: want sprite, texture, image or scene", kind)
	}
	return nil
}

// cycle finds a dependency cycle by depth-first search, iteratively (a
// manifest may chain thousands of entries), and returns its paths, the
// first repeated at the end; nil when there is none. O(entries + deps).
func (mf *Manifest) cycle() []string {
	const (
		white = iota
		grey
		black
	)
	color := make([]uint8, len(mf.Assets))
	type frame struct{ node, next int }
	var stack []frame
	for root := range mf.Assets {
		if color[root] != white {
			continue
		}
		stack = append(stack[:0], frame{root, 0})
		color[root] = grey
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			deps := mf.Assets[top.node].Deps
			if top.next == len(deps) {
				color[top.node] = black
				stack = stack[:len(stack)-1]
				continue
			}
			d := mf.index[deps[top.next]]
			top.next++
			switch color[d] {
			case grey:
				var out []string
				i := len(stack) - 1
				for stack[i].node != d {
					i--
				}
				for ; i < len(stack); i++ {
					out = append(out, mf.Assets[stack[i].node].Path)
				}
				return append(out, mf.Assets[d].Path)
			case white:
				color[d] = grey
				stack = append(stack, frame{d, 0})
			}
		}
	}
	return nil
}

// Entry returns the entry of a path.
func (mf *Manifest) Entry(p string) (ManifestEntry, bool) {
	i, ok := mf.index[p]
	if !ok {
		return ManifestEntry{}, false
	}
	return mf.Assets[i], true
}

// Order lists the given entries and everything they depend on,
// dependencies before what needs them, each once. Paths not listed are
// left out.
func (mf *Manifest) Order(paths []string) []string {
	done := make(map[string]bool)
	var out []string
	var visit func(p string)
	visit = func(p string) {
		i, ok := mf.index[p]
		if !ok || done[p] {
			return
		}
		done[p] = true // no cycles: ParseManifest refused them
		for _, d := range mf.Assets[i].Deps {
			visit(d)
		}
		out = append(out, p)
	}
	for _, p := range paths {
		visit(p)
	}
	return out
}

// readManifest reads a bundle's manifest, or nil when it has none.
func readManifest(fsys fs.FS) (*Manifest, error) {
	f, err := fsys.Open(ManifestName)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxManifestBytes+1))
	if err != nil {
		return nil, err
	}
	return ParseManifest(data)
}

// Manifest is the bundle's manifest, or nil when it has none.
func (b *Bundle) Manifest() *Manifest { return b.manifest }

// Preload loads the manifest's preload entries, each after its
// dependencies, and reports progress after each file (progress may be nil).
// It stops at the first failure, which names the file; what loaded before
// it stays cached, with count 0, for the release policy to take.
func (b *Bundle) Preload(ctx context.Context, progress func(done, total int)) ([]Asset, error) {
	if b.manifest == nil {
		return nil, fmt.Errorf("preload %q: %w: the bundle has no %s", b.name, ErrNotFound, ManifestName)
	}
	order := b.manifest.Order(b.manifest.Preload)
	out := make([]Asset, 0, len(order))
	for i, p := range order {
		a, err := b.Load(ctx, p)
		if err != nil {
			return out, fmt.Errorf("preload %q: %w", b.name, err)
		}
		out = append(out, a)
		if progress != nil {
			progress(i+1, len(order))
		}
	}
	return out, nil
}
