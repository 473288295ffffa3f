package main

import (
	"os"
	"testing"
)

// TestRun needs an X display: make test runs it under Xvfb.
func TestRun(t *testing.T) {
	if os.Getenv("DISPLAY") == "" {
		t.Fatal("the window example needs an X display: run it under xvfb-run, as make test does")
	}
	if err := run(60); err != nil {
		t.Fatal(err)
	}
}
