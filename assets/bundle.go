package assets

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io/fs"
	"path"
	"strings"
)

// Bundle is a file system of assets (an embed.FS, an os.DirFS) under a
// name. Keys are "name:path" plus a "#kind" suffix for what a file yields:
// an image file gives "#image" (ImageAsset), "#texture" (Texture2D) and
// "#sprite" (SpriteFrame, what Load returns); a glTF file gives "#scene".
type Bundle struct {
	m        *Manager
	name     string
	fsys     fs.FS
	manifest *Manifest // nil without one
}

// AddBundle registers a file system under a name. When the file system has
// a manifest.json at its root, it is read and checked first (see Manifest):
// a bad one is an error wrapping ErrManifest, and no bundle is added.
func (m *Manager) AddBundle(name string, fsys fs.FS) (*Bundle, error) {
	if name == "" || strings.ContainsAny(name, ":#") {
		return nil, fmt.Errorf("assets: bundle name %q: must be non-empty, without ':' or '#'", name)
	}
	mf, err := readManifest(fsys)
	if err != nil {
		return nil, fmt.Errorf("assets: bundle %q: %s: %w", name, ManifestName, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("assets: bundle %q: %w", name, ErrClosed)
	}
	if _, ok := m.bundles[name]; ok {
		return nil, fmt.Errorf("assets: bundle %q already exists", name)
	}
	b := &Bundle{m: m, name: name, fsys: fsys, manifest: mf}
	m.bundles[name] = b
	return b, nil
}

// Bundle returns a registered bundle.
func (m *Manager) Bundle(name string) (*Bundle, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.bundles[name]
	return b, ok
}

// Load loads "bundle:path" (see Bundle.Load).
func (m *Manager) Load(ctx context.Context, key string) (Asset, error) {
	name, p, ok := strings.Cut(key, ":")
	if !ok {
		return nil, fmt.Errorf("load %q: %w: a key is bundle:path", key, ErrNotFound)
	}
	b, ok := m.Bundle(name)
	if !ok {
		return nil, fmt.Errorf("load %q: %w: no bundle %q", key, ErrNotFound, name)
	}
	return b.Load(ctx, p)
}

// Name is the bundle's name.
func (b *Bundle) Name() string { return b.name }

func (b *Bundle) key(p string) string { return b.name + ":" + p }

// Load returns the asset a file yields, from the cache or loaded once:
// a SpriteFrame for PNG and JPEG files (with its Texture2D and ImageAsset)
// and for KTX2 files (with its Texture2D, which has no ImageAsset),
// a Scene for glTF (.gltf, .glb). With a manifest, only the files it lists
// load, as the kind it gives them.
func (b *Bundle) Load(ctx context.Context, p string) (Asset, error) {
	if b.manifest != nil {
		e, ok := b.manifest.Entry(p)
		if !ok {
			return nil, fmt.Errorf("load %q: %w: not in the bundle's %s", b.key(p), ErrNotFound, ManifestName)
		}
		switch e.Kind {
		case KindSprite:
			return asAsset(b.LoadSpriteFrame(ctx, p, e.Texture))
		case KindTexture:
			return asAsset(b.LoadTexture(ctx, p, e.Texture))
		case KindImage:
			return asAsset(b.LoadImage(ctx, p))
		default:
			return asAsset(b.LoadScene(ctx, p))
		}
	}
	switch strings.ToLower(path.Ext(p)) {
	case ".png", ".jpg", ".jpeg", ".ktx2":
		return asAsset(b.LoadSpriteFrame(ctx, p))
	case ".gltf", ".glb":
		return asAsset(b.LoadScene(ctx, p))
	}
	return nil, fmt.Errorf("load %q: %w", b.key(p), ErrUnknownKind)
}

// asAsset returns a typed load's result as an Asset, and a nil Asset (not
// a nil pointer in one) on failure.
func asAsset[T Asset](a T, err error) (Asset, error) {
	if err != nil {
		return nil, err
	}
	return a, nil
}

func (b *Bundle) read(ctx context.Context, p string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	data, err := fs.ReadFile(b.fsys, p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, p)
	}
	return data, err
}

// LoadImage loads an image file's decoded pixels.
func (b *Bundle) LoadImage(ctx context.Context, p string) (*ImageAsset, error) {
	return b.m.loadImage(ctx, b.key(p), p, func(ctx context.Context) ([]byte, error) { return b.read(ctx, p) })
}

// LoadTexture loads an image file as a Texture2D (and its ImageAsset),
// with at most one TextureOptions: none is sRGB with a full mip chain.
// Loads of one file with different options make different textures.
func (b *Bundle) LoadTexture(ctx context.Context, p string, opts ...TextureOptions) (*Texture2D, error) {
	return b.m.loadTexture(ctx, b.key(p), p, firstOr(opts), func(ctx context.Context) ([]byte, error) { return b.read(ctx, p) })
}

// LoadSpriteFrame loads an image file as a whole-texture SpriteFrame (and
// its Texture2D and ImageAsset), with at most one TextureOptions for its
// texture (as LoadTexture).
func (b *Bundle) LoadSpriteFrame(ctx context.Context, p string, opts ...TextureOptions) (*SpriteFrame, error) {
	return b.m.loadSprite(ctx, b.key(p), p, firstOr(opts), func(ctx context.Context) ([]byte, error) { return b.read(ctx, p) })
}

// The image chain, shared by bundle files and remote URLs: base is the key
// without its "#kind".

func (m *Manager) loadImage(ctx context.Context, base, name string, read func(context.Context) ([]byte, error)) (*ImageAsset, error) {
	a, err := m.load(ctx, base+"#image", func(ctx context.Context) (Asset, error) {
		data, err := read(ctx)
		if err != nil {
			return nil, err
		}
		return asAsset(m.decodeImage(ctx, data, name))
	})
	if err != nil {
		return nil, err
	}
	return a.(*ImageAsset), nil
}

func (m *Manager) loadTexture(ctx context.Context, base, name string, opts TextureOptions, read func(context.Context) ([]byte, error)) (*Texture2D, error) {
	a, err := m.load(ctx, base+"#texture"+opts.keySuffix(), func(ctx context.Context) (Asset, error) {
		if isKTX2Name(name) {
			return asAsset(m.loadKTX2(ctx, name, opts, read))
		}
		im, err := m.loadImage(ctx, base, name, read)
		if errors.Is(err, errKTX2Content) { // a KTX2 file by its identifier
			return asAsset(m.loadKTX2(ctx, name, opts, read))
		}
		if err != nil {
			return nil, err
		}
		pixels := im.Pixels()
		if pixels == nil { // dropped after an earlier upload: decode again
			data, err := read(ctx)
			if err != nil {
				return nil, err
			}
			again, err := m.decodeImage(ctx, data, name)
			if err != nil {
				return nil, err
			}
			pixels = again.pixels
		}
		// The texture and its staging copy: admitted against the budget
		// with the other loads in flight, and not begun once the load is
		// cancelled.
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		size := int64(len(pixels))
		if !opts.NoMips { // the chain's levels below the first: a third more, at most
			size += size / 3
		}
		done, err := m.admit(name, 2*size)
		if err != nil {
			return nil, err
		}
		defer done()
		return asAsset(m.newTexture(im, pixels, name, opts))
	})
	if err != nil {
		return nil, err
	}
	return a.(*Texture2D), nil
}

func (m *Manager) loadSprite(ctx context.Context, base, name string, opts TextureOptions, read func(context.Context) ([]byte, error)) (*SpriteFrame, error) {
	a, err := m.load(ctx, base+"#sprite"+opts.keySuffix(), func(ctx context.Context) (Asset, error) {
		t, err := m.loadTexture(ctx, base, name, opts, read)
		if err != nil {
			return nil, err
		}
		return asAsset(m.newSpriteFrame(t, image.Rect(0, 0, int(t.Width), int(t.Height)), name))
	})
	if err != nil {
		return nil, err
	}
	return a.(*SpriteFrame), nil
}

// inBundle reports whether an asset's key belongs to the bundle.
func (b *Bundle) inBundle(a Asset) bool { return strings.HasPrefix(a.base().key, b.name+":") }

// Assets lists the bundle's cached assets.
func (b *Bundle) Assets() []Asset {
	var out []Asset
	for _, a := range b.m.Assets() {
		if b.inBundle(a) {
			out = append(out, a)
		}
	}
	return out
}

// Release is Cocos's Bundle.release(path): a forced release of what the
// file at p yields (its root: the sprite frame of an image, the scene of a
// glTF), whatever its dynamic holders, through the one release rule of
// Manager.Release — a locked root, one a live asset depends on, or one a
// load in flight holds is refused with nothing changed. Its dependencies
// are left to the release policy, which hears of those left unreferenced.
// It returns how many assets went.
func (b *Bundle) Release(p string) (int, error) {
	for _, suffix := range []string{"#sprite", "#scene", "#texture", "#image"} {
		if a, ok := b.m.Lookup(b.key(p) + suffix); ok {
			return b.m.Release(a, true)
		}
	}
	return 0, fmt.Errorf("release %q: %w", b.key(p), ErrNotFound)
}

// ReleaseUnused is Manager.ReleaseUnused for the bundle's assets (what
// they leave unreferenced elsewhere is tried too).
func (b *Bundle) ReleaseUnused() int { return b.m.releaseUnused(b.inBundle) }

// ReleaseAll is Manager.ReleaseAll for the bundle's assets.
func (b *Bundle) ReleaseAll() int { return b.m.releaseAll(b.inBundle) }

// Has reports whether an asset belongs to the bundle (its key is the
// bundle's).
func (b *Bundle) Has(a Asset) bool { return b.inBundle(a) }

// Acquire is Load that also takes a reference for the caller in the same
// step (DecRef it when done): unlike Load followed by AddRef, no release
// on another goroutine can come between the two.
func (b *Bundle) Acquire(ctx context.Context, p string) (Asset, error) {
	return b.Load(context.WithValue(ctx, acquireKey{}, true), p)
}

// Acquire is Bundle.Acquire for "bundle:path".
func (m *Manager) Acquire(ctx context.Context, key string) (Asset, error) {
	return m.Load(context.WithValue(ctx, acquireKey{}, true), key)
}
