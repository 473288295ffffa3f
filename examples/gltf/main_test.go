package main

import "testing"

func TestRun(t *testing.T) {
	if err := run("../../assets/testdata/content", "scenes/cube.glb"); err != nil {
		t.Fatal(err)
	}
}
