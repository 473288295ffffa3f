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
//	Scene ──► Mesh ──► Buffer (each primitive's vertices, indices, skin)
//	               └─► Material ──► Texture2D ──► ImageAsset   (glTF 2.0)
//	                           └──► Sampler (shared, keyed by its parameters)
//
// A freshly loaded root starts at count 0, as in Cocos: a dynamic holder
// keeps it with AddRef and lets go with DecRef; Acquire loads and takes the
// reference in one step. Assets made at run time come holding the caller's
// reference. A load of one key runs once however many goroutines ask,
// detached from them (each waits with its own context), and pins what it
// loads on the way until its asset holds it. A failed load caches nothing
// and gives back every allocation and Vulkan object it made that nobody
// else took; the next Load retries.
//
// Pixels and vertices are uploaded through a staging ring (a linear pool of
// host-visible memory): the copies are recorded with framesync.OneShot —
// into the frame being recorded, or submitted at once — and each staging
// buffer retires with its copy's serial. Where vk made a dedicated transfer
// queue (Options.UploadQueue, Manager.UploadQueue), the copies run there,
// signalling a transfer timeline at which the staging buffers retire, and
// the graphics queue waits for them on the GPU (framesync.OneShotAfter).
//
// Use(serial, asset) claims an asset for a submission: one atomic step per
// GPU-owning asset it reaches (from a list flattened when the asset was
// made: no graph walk per frame) marks it used by that serial, or fails
// with ErrReleased. A release hands an asset's GPU objects to framesync at
// its last claimed serial, so releasing an asset the GPU is still reading
// is safe, from any goroutine. An app that submits on its own queues claims
// with Manager.UseAt(point, asset) at a point of a timeline it registered
// with framesync (Sync.AddTimeline); an asset keeps its last use on every
// timeline (Base.LastUses) and retires once each has passed it.
//
// With SetDefrag (or DefragmentNow), the manager defragments device memory
// by itself: a planner goroutine plans each pass within a per-frame budget
// and makes the new objects; DefragFrame, never waiting for it, records a
// planned pass's copies in a one-shot submission, swaps their handles
// (read them with Texture2D.Handles and Buffer.Handles after the claim;
// Generation counts the moves, for descriptor caches) and retires the old
// objects through framesync. docs/assets.md has the contract.
//
// Every release goes through one rule (Manager.Release): locks, loads in
// flight, dependents and cycles are checked in the same step as the
// release. Package finalizer adds the deferred decision (Collect), scenes,
// the dynamic atlas and explanations. docs/lifetimes.md has the contract of
// every method.
//
//go:generate go run ./internal/gencontent testdata/content
package assets
