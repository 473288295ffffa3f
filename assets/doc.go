// Package assets is the asset graph: identity, cache, loaders, dependencies,
// reference counts, GPU upload and use marks — the model of Cocos Creator's
// assetManager and Galacean's ResourceManager, with assets that own real
// Vulkan objects.
//
// Every asset has an ID, including those made at run time (NewImage,
// NewTexture, NewSpriteFrame, NewBuffer), and the cache is keyed by ID and
// by key ("bundle:path#kind", or a URL). Loading records each asset's
// direct dependencies and adds one reference to each:
//
//	SpriteFrame ──► Texture2D ──► ImageAsset        (an image file, or LoadRemote)
//	Scene ──► Mesh ──► Buffer (vertices, indices)
//	               └─► Material ──► Texture2D ──► ImageAsset   (glTF 2.0)
//
// A freshly loaded root starts at count 0, as in Cocos: a dynamic holder
// keeps it with AddRef and lets go with DecRef. Concurrent loads of one key
// run once (singleflight). A failed load caches nothing and gives back every
// allocation and Vulkan object it made; the next Load retries.
//
// Pixels and vertices are uploaded through a staging ring (a linear pool of
// host-visible memory): the copies are recorded with framesync.OneShot —
// into the frame being recorded, or submitted at once — and each staging
// buffer retires with its copy's serial.
//
// Use(serial, asset) marks an asset and the GPU-owning assets it depends on
// as used by a submission, from a list flattened when the asset was made:
// no graph walk per frame. Unload hands an asset's GPU objects to framesync
// at its last use, so releasing an asset the GPU is still reading is safe.
// The release policy — locks, forced release, cycles, scenes — is package
// finalizer's; Release and ReleaseUnused here are the simple rule.
//
//go:generate go run ./internal/gencontent testdata/content
package assets
