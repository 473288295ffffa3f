// Package inspector shows every asset's life and every byte of device
// memory, live, in a browser: an http.Handler that an application mounts
// where it wants, as it would net/http/pprof's — except that nothing is
// registered at init and nothing touches http.DefaultServeMux.
//
//	h := inspector.New(inspector.Options{Manager: m, Finalizer: fin})
//	mux.Handle("/debug/vkassets/", http.StripPrefix("/debug/vkassets", h))
//
// The page ("/") has a tab per view, each also a JSON endpoint:
//
//	/api/state                 frame, serials, live and pending bytes (the header)
//	/api/assets                the assets table (?q= filter, ?kind=, ?sort=, ?desc=1)
//	/api/assets/{id}           one row and Why
//	/api/assets/{id}/why       Why alone
//	/api/graph/{id}            dependencies and dependents to ?depth= (default 2), cycles marked
//	/graph/{id}.svg            the same, drawn
//	/api/memory                heaps, types, blocks, each range with the asset it holds
//	/api/memory/vma.json       the allocator's statistics in VMA's format (a download)
//	/api/retire                the retirement queue: pending, completed serial, latency
//	/api/chart                 live against pending bytes by frame, scene switches marked
//	/api/leaks                 unused assets, allocations no asset owns, the close report
//	/api/events                server-sent "state" events while the page is open
//
// The handler only reads: any method but GET and HEAD is refused, and it
// calls only the read-only methods of the manager, finalizer, allocator and
// frame sync. Options.Authorize, when set, decides every request.
//
// # Nothing per frame
//
// The application does not call the inspector each frame, and the
// inspector has no goroutine of its own while no one looks. The live
// chart's history is filled by a sampler goroutine that the first request
// starts; it takes one sample (allocated bytes, lock-free; the pending
// bytes, one framesync.Stats) every Options.SampleEvery, skipping frames it
// has already seen, and it exits once no client has asked for
// Options.Idle and no event stream is open. So with the handler mounted
// and no client, the render loop runs exactly the code it runs without
// it; the chart covers the time a page was open. Every view is built when
// asked, on the HTTP server's goroutine, from the same snapshots
// (Manager.Assets, Allocator.Blocks, Sync.Stats) that the rest of the
// module offers any goroutine.
package inspector
