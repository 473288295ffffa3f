package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/inspector"
)

// writeSnapshots writes two snapshots: a texture and a sprite cached, then
// both released with the texture's memory still queued for the GPU, and a
// buffer added.
func writeSnapshots(t *testing.T) (string, string) {
	t.Helper()
	tex := inspector.SnapshotAsset{ID: 2, Key: "content:hero.png#texture", Name: "content:hero.png", Kind: "texture",
		State: "ready", Count: 1, Bytes: 16384, GPU: true, Memory: 7, Offset: 4096}
	sprite := inspector.SnapshotAsset{ID: 3, Key: "content:hero.png#sprite", Name: "content:hero.png", Kind: "sprite",
		State: "ready", Deps: []assets.ID{2}}
	buf := inspector.SnapshotAsset{ID: 4, Name: "vertices", Kind: "buffer", State: "ready", Count: 1, Bytes: 256, GPU: true, Memory: 7, Offset: 0}
	before := inspector.Snapshot{Version: inspector.SnapshotVersion, Assets: []inspector.SnapshotAsset{tex, sprite},
		Allocations: []inspector.SnapshotAllocation{{Name: "content:hero.png", Memory: 7, Offset: 4096, Size: 16384, Asset: 2}},
		AssetBytes:  16384, AllocationBytes: 16384}
	after := inspector.Snapshot{Version: inspector.SnapshotVersion, Assets: []inspector.SnapshotAsset{buf},
		Allocations: []inspector.SnapshotAllocation{{Name: "content:hero.png", Memory: 7, Offset: 4096, Size: 16384}, {Name: "vertices", Memory: 7, Size: 256, Asset: 4}},
		Pending: []inspector.SnapshotSerial{{Serial: 9, Objects: 3, Bytes: 16384, Items: []inspector.SnapshotPending{
			{Kind: "image view", Name: "content:hero.png"}, {Kind: "image", Name: "content:hero.png"},
			{Kind: "memory", Name: "content:hero.png", Memory: 7, Offset: 4096, Bytes: 16384}}}},
		AssetBytes: 256, AllocationBytes: 16384 + 256, PendingBytes: 16384}
	dir := t.TempDir()
	paths := [2]string{filepath.Join(dir, "before.json"), filepath.Join(dir, "after.json")}
	for i, s := range []inspector.Snapshot{before, after} {
		var b bytes.Buffer
		require.NoError(t, s.WriteJSON(&b))
		require.NoError(t, os.WriteFile(paths[i], b.Bytes(), 0o644))
	}
	return paths[0], paths[1]
}

func TestDiffCommand(t *testing.T) {
	a, b := writeSnapshots(t)
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run([]string{"diff", a, b, "--json"}, &out, &errOut), errOut.String())
	var d inspector.DiffResult
	require.NoError(t, json.Unmarshal(out.Bytes(), &d))
	require.Len(t, d.Freed, 2)
	require.Equal(t, uint64(16384), d.FreedBytes)
	require.Len(t, d.StillWaiting, 1)
	require.Equal(t, "content:hero.png#texture", d.StillWaiting[0].Name)
	require.Equal(t, uint64(16384), d.StillWaitingBytes)
	require.EqualValues(t, 9, d.StillWaiting[0].Serial)
	require.Len(t, d.Added, 1)
	require.Equal(t, uint64(256), d.AddedBytes)

	out.Reset()
	require.Equal(t, 0, run([]string{"diff", a, b}, &out, &errOut), errOut.String())
	text := out.String()
	for _, want := range []string{"still waiting for the GPU  1", "16.0 KiB", "content:hero.png#texture", "still waiting for the GPU (serial 9)", "vertices"} {
		require.Contains(t, text, want)
	}
}

func TestDiffCommandErrors(t *testing.T) {
	a, _ := writeSnapshots(t)
	bad := filepath.Join(t.TempDir(), "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"version": 7}`), 0o644))
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"diff", a}, 2, "want two snapshot files"},
		{[]string{"diff", a, a, a}, 2, "got 3"},
		{[]string{"diff", "--nope", a, a}, 2, "flag provided but not defined"},
		{[]string{"diff", a, bad}, 1, "bad.json: inspector: not a snapshot: format version 7, want 1"},
		{[]string{"diff", a, filepath.Join(t.TempDir(), "missing.json")}, 1, "missing.json"},
	} {
		var out, errOut bytes.Buffer
		require.Equal(t, c.code, run(c.args, &out, &errOut), c.args)
		require.Contains(t, errOut.String(), c.want)
	}
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run([]string{"help", "diff"}, &out, &errOut))
	require.Contains(t, out.String(), "BEFORE.json AFTER.json")
}
