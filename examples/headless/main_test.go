package main

import (
	"path/filepath"
	"testing"
)

func TestRun(t *testing.T) {
	if err := run(filepath.Join(t.TempDir(), "frame.png")); err != nil {
		t.Fatal(err)
	}
}
