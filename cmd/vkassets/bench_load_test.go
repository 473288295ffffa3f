package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMain lets the test binary stand in for vkassets when bench load runs
// itself as a child.
func TestMain(m *testing.M) {
	if os.Getenv(loadChildEnv) != "" {
		os.Exit(run([]string{"bench", "load"}, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestBenchLoad: a PngSuite image is measured in both modes, each in its own
// process, and a broken one is reported as an error with a failing exit.
func TestBenchLoad(t *testing.T) {
	suite := filepath.Join(runtime.GOROOT(), "src", "image", "png", "testdata", "pngsuite")
	var out, errOut bytes.Buffer
	code := run([]string{"bench", "load", "--json", "--file", filepath.Join(suite, "basn6a16.png"), "--file", filepath.Join(suite, "xcrn0g04.png")}, &out, &errOut)
	require.Equal(t, 1, code, "a broken file fails the run: %s", errOut.String())
	var rows []loadResult
	require.NoError(t, json.Unmarshal(out.Bytes(), &rows), out.String())
	require.Len(t, rows, 5)
	require.Equal(t, "device only", rows[0].Mode)
	require.Empty(t, rows[0].Err)
	require.Greater(t, rows[0].MaxRSSMB, 1.0, "the kernel's peak RSS of the child")
	for _, r := range rows[1:3] {
		require.Empty(t, r.Err, r.Mode)
		require.Greater(t, r.LoadMS, 0.0, r.Mode)
		require.GreaterOrEqual(t, r.MaxRSSMB, rows[0].MaxRSSMB*0.9, r.Mode)
	}
	require.Equal(t, []string{"no-mips", "mips"}, []string{rows[1].Mode, rows[2].Mode})
	for _, r := range rows[3:] {
		require.Contains(t, r.Err, "xcrn0g04.png", "the error names the file")
	}
}
