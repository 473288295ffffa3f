package main

import (
	"os"
	"testing"
)

// TestRun needs a display: make test runs it under Xvfb; without one it
// is skipped, with the reason.
func TestRun(t *testing.T) {
	if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
		t.Skip("no display (DISPLAY and WAYLAND_DISPLAY are unset): run under xvfb-run, as make test does")
	}
	if err := run(60); err != nil {
		t.Fatal(err)
	}
}
