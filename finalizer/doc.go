// Package finalizer is the release policy over package assets: Cocos
// Creator's finalizer (release, force, releaseUnusedAssets, releaseAll,
// lock, the cycle check, scene auto-release) and Galacean's gc, made
// GPU-safe and explainable.
//
// The old engine check "was this texture rendered this frame?" is gone: no
// check refuses a release because the GPU uses the asset. The asset leaves
// the cache at once, and its GPU objects go to framesync at its last-use
// serial, destroyed when that serial completes. A forced release of an asset
// in flight is therefore safe too.
//
//	fin := finalizer.New(manager)
//	fin.Release(sprite)   // decided at Collect: survives if re-referenced this frame
//	...
//	fin.Collect()         // at the frame's end
//	fin.SwitchScene(next, hud)
//	fmt.Println(fin.Why(texture)) // "count 2, held by sprite …, material …"
//
// Every decision goes through the manager's one release rule
// (assets.Manager.Release), in one step under its lock: locked or pinned by
// a load in flight → refused, even by force; referenced → kept (a forced
// release ignores dynamic holders, never dependents); held only by cycles
// through the asset that nothing else holds → the cycle goes together (one
// O(V+E) pass). Releasing decrements each direct dependency exactly once and
// tries it, non-forced, in the same pass. docs/lifetimes.md has the contract
// of every method.
//
// With SetResidency, unreferenced assets stay resident while a memory budget
// allows (a later load is a hit: no I/O, no decode, no upload) and Collect
// evicts them past a high watermark, least recently used first, weighted by
// the bytes they free and their reload cost; an allocation that fails for
// lack of memory evicts and tries again. docs/residency.md has the details.
package finalizer
