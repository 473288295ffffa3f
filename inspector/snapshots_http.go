package inspector

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// keptSnapshots is how many snapshots the page's Snapshots tab keeps; the
// oldest goes first.
const keptSnapshots = 8

// snapshotStore holds the snapshots taken through the page (the
// inspector's own state: the application is only read).
type snapshotStore struct {
	mu   sync.Mutex
	next int
	kept []keptSnapshot
}

type keptSnapshot struct {
	ID   int `json:"id"`
	snap Snapshot
}

// SnapshotSummary describes a kept snapshot in /api/snapshots.
type SnapshotSummary struct {
	ID              int       `json:"id"`
	Time            time.Time `json:"time"`
	Frames          uint64    `json:"frames"`
	Assets          int       `json:"assets"`
	AssetBytes      uint64    `json:"asset_bytes"`
	AllocationBytes uint64    `json:"allocation_bytes"`
	PendingBytes    uint64    `json:"pending_bytes"`
}

func summary(k keptSnapshot) SnapshotSummary {
	s := k.snap
	return SnapshotSummary{ID: k.ID, Time: s.Time, Frames: s.Frames, Assets: len(s.Assets),
		AssetBytes: s.AssetBytes, AllocationBytes: s.AllocationBytes, PendingBytes: s.PendingBytes}
}

// serveSnapshots lists the kept snapshots, oldest first.
func (h *Handler) serveSnapshots(*http.Request) (any, error) {
	h.snaps.mu.Lock()
	defer h.snaps.mu.Unlock()
	out := make([]SnapshotSummary, 0, len(h.snaps.kept))
	for _, k := range h.snaps.kept {
		out = append(out, summary(k))
	}
	return out, nil
}

// serveTake takes a snapshot (Take), keeps it and returns its summary.
func (h *Handler) serveTake(*http.Request) (any, error) {
	s := Take(h.opts.Manager, h.opts.Allocator, h.opts.Sync)
	h.snaps.mu.Lock()
	defer h.snaps.mu.Unlock()
	h.snaps.next++
	k := keptSnapshot{ID: h.snaps.next, snap: s}
	h.snaps.kept = append(h.snaps.kept, k)
	if len(h.snaps.kept) > keptSnapshots {
		h.snaps.kept = h.snaps.kept[len(h.snaps.kept)-keptSnapshots:]
	}
	return summary(k), nil
}

// kept finds a kept snapshot by the id in the request's path value or
// query parameter name.
func (h *Handler) kept(r *http.Request, name string) (Snapshot, error) {
	v := r.PathValue(name)
	if v == "" {
		v = r.URL.Query().Get(name)
	}
	id, err := strconv.Atoi(v)
	if err != nil {
		return Snapshot{}, fmt.Errorf("%w: %s: not a snapshot id", errBadRequest, name)
	}
	h.snaps.mu.Lock()
	defer h.snaps.mu.Unlock()
	for _, k := range h.snaps.kept {
		if k.ID == id {
			return k.snap, nil
		}
	}
	return Snapshot{}, fmt.Errorf("%w: snapshot %d (the last %d are kept)", errNotFound, id, keptSnapshots)
}

// serveSnapshotJSON downloads a kept snapshot in the format vkassets diff
// reads.
func (h *Handler) serveSnapshotJSON(w http.ResponseWriter, r *http.Request) {
	s, err := h.kept(r, "id")
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="vkassets-snapshot-%s.json"`, r.PathValue("id")))
	_ = s.WriteJSON(w)
}

// serveDiff is Diff of two kept snapshots: ?before=ID&after=ID.
func (h *Handler) serveDiff(r *http.Request) (any, error) {
	before, err := h.kept(r, "before")
	if err != nil {
		return nil, err
	}
	after, err := h.kept(r, "after")
	if err != nil {
		return nil, err
	}
	return Diff(before, after), nil
}
