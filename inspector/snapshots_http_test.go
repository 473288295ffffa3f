package inspector

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/vk/vktest"
)

// TestSnapshotEndpoints: snapshots taken through the handler are listed,
// download in the format ReadSnapshot reads, and diff as Diff does; the
// oldest go past the eighth; unknown and malformed ids are refused.
func TestSnapshotEndpoints(t *testing.T) {
	e := open(t, vktest.Options{})
	sc := setup(t, e)
	srv := httptest.NewServer(New(Options{Manager: e.m, Finalizer: e.fin}))
	defer srv.Close()

	var first SnapshotSummary
	getJSON(t, srv.URL+"/api/snapshots/take", &first)
	require.Equal(t, 1, first.ID)
	require.NoError(t, e.fin.ForceRelease(sc.star)) // unused: it goes
	e.fin.Collect()
	var second SnapshotSummary
	getJSON(t, srv.URL+"/api/snapshots/take", &second)
	var list []SnapshotSummary
	getJSON(t, srv.URL+"/api/snapshots", &list)
	require.Equal(t, []int{1, 2}, []int{list[0].ID, list[1].ID})
	require.Equal(t, first.Assets-3, second.Assets, "the sprite, its texture and its image went")

	resp, err := http.Get(srv.URL + "/api/snapshots/2")
	require.NoError(t, err)
	after, err := ReadSnapshot(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Len(t, after.Assets, second.Assets)
	resp, err = http.Get(srv.URL + "/api/snapshots/1")
	require.NoError(t, err)
	before, err := ReadSnapshot(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)

	var d DiffResult
	getJSON(t, srv.URL+"/api/diff?before=1&after=2", &d)
	want := Diff(before, after)
	require.Equal(t, len(want.Freed), len(d.Freed))
	require.Equal(t, want.FreedBytes, d.FreedBytes)
	require.Len(t, d.Freed, 3)

	for i := 0; i < 8; i++ {
		var s SnapshotSummary
		getJSON(t, srv.URL+"/api/snapshots/take", &s)
	}
	getJSON(t, srv.URL+"/api/snapshots", &list)
	require.Len(t, list, 8, "the last eight are kept")
	require.Equal(t, 3, list[0].ID)
	require.Equal(t, http.StatusNotFound, status(t, http.MethodGet, srv.URL+"/api/snapshots/1"), "gone past the eighth")
	require.Equal(t, http.StatusNotFound, status(t, http.MethodGet, srv.URL+"/api/diff?before=1&after=10"))
	require.Equal(t, http.StatusBadRequest, status(t, http.MethodGet, srv.URL+"/api/diff?before=x&after=10"))
	require.Equal(t, http.StatusMethodNotAllowed, status(t, http.MethodPost, srv.URL+"/api/snapshots/take"), "only GET")
}

// TestProfileEndpoint: with the allocator recording into the process's
// GPU profile, /api/profile?debug=1 counts the live allocations and names
// the code that made them (a texture's upload through the assets package).
func TestProfileEndpoint(t *testing.T) {
	e := open(t, vktest.Options{})
	e.a.SetProfile(alloc.Profile())
	t.Cleanup(func() { e.a.SetProfile(nil) })
	_, err := e.b.LoadTexture(context.Background(), "hero.png")
	require.NoError(t, err)
	srv := httptest.NewServer(New(Options{Manager: e.m}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/profile?debug=1")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	text := string(body)
	require.Regexp(t, `^vkassets\.gpu profile: total [1-9]`, text)
	require.Contains(t, text, "assets.(*Manager).newTexture", "the stack names the code that allocated")
	resp, err = http.Get(srv.URL + "/api/profile")
	require.NoError(t, err)
	gz, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, []byte{0x1f, 0x8b}, gz[:2], "pprof's gzipped protobuf for go tool pprof")
}

// TestAssetsLimit: the table's endpoint filters and sorts the whole cache
// and sends the first limit rows, saying how many there are and how many
// matched; every column the page sorts by is known to it.
func TestAssetsLimit(t *testing.T) {
	e := open(t, vktest.Options{})
	setup(t, e)
	srv := httptest.NewServer(New(Options{Manager: e.m, Finalizer: e.fin}))
	defer srv.Close()
	var res struct {
		Total, Matched int
		Assets         []Asset
	}
	getJSON(t, srv.URL+"/api/assets?limit=2&sort=id&desc=1", &res)
	all := e.m.Assets()
	require.Equal(t, len(all), res.Total)
	require.Equal(t, len(all), res.Matched)
	require.Len(t, res.Assets, 2)
	require.Greater(t, res.Assets[0].ID, res.Assets[1].ID, "sorted before the limit")
	getJSON(t, srv.URL+"/api/assets?kind=node&limit=1", &res)
	require.Equal(t, 3, res.Matched, "the three nodes")
	require.Len(t, res.Assets, 1)
	for _, col := range []string{"id", "kind", "name", "state", "count", "bytes", "last_use", "locked", "residency"} {
		require.Equal(t, http.StatusOK, status(t, http.MethodGet, srv.URL+"/api/assets?sort="+col), col)
	}
	require.Equal(t, http.StatusBadRequest, status(t, http.MethodGet, srv.URL+"/api/assets?limit=x"))
}
