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
// Check order for a non-forced release: locked → count 0 → cycle check (does
// every remaining reference come from inside the subgraph reachable from the
// asset? one O(V+E) pass). Force skips all but the lock. Releasing an asset
// decrements each direct dependency exactly once (assets.Manager.Unload)
// and tries to release it, non-forced, in the same pass.
package finalizer
