package main

import (
	"fmt"
	"io"
	"time"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/finalizer"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/vk"
)

// releaseResults is what `vkassets bench release --json` prints.
type releaseResults struct {
	ReleaseUnused1MMs float64 `json:"release_unused_1m_ms"`
	CycleCheck100kMs  float64 `json:"cycle_check_100k_ms"`
	ReleaseLeafNs     float64 `json:"release_leaf_ns"`
	// ReleaseUnusedFewMs: ReleaseUnused when 1,000 of 1,000,000 cached
	// assets are unused (the sweep costs what it releases).
	ReleaseUnusedFewMs float64 `json:"release_unused_1k_of_1m_ms"`
}

// graphNode is an asset kind with no GPU object, for graph benchmarks.
type graphNode struct{ assets.Base }

func benchRelease(progress io.Writer) (releaseResults, error) {
	var res releaseResults
	d, err := vk.Open(vk.Options{InstanceOptions: vk.InstanceOptions{AppName: "vkassets bench release"}})
	if err != nil {
		return res, err
	}
	defer d.Close()
	a, err := alloc.New(alloc.Options{Device: d})
	if err != nil {
		return res, err
	}
	defer a.Close()
	s, err := framesync.New(framesync.Options{Device: d, Allocator: a})
	if err != nil {
		return res, err
	}
	defer s.Close()
	m, err := assets.New(assets.Options{Device: d, Allocator: a, Sync: s})
	if err != nil {
		return res, err
	}
	defer m.Close()
	fin := finalizer.New(m)

	fmt.Fprintln(progress, "ReleaseUnused over 1,000,000 cached assets ...")
	for range 1_000_000 {
		n := &graphNode{}
		if err := m.Register(n, "node", "n"); err != nil {
			return res, err
		}
		_ = m.DecRef(n) // made at run time with the caller's reference
	}
	t0 := time.Now()
	if n := fin.ReleaseUnused(); n != 1_000_000 {
		return res, fmt.Errorf("released %d of 1,000,000", n)
	}
	res.ReleaseUnused1MMs = time.Since(t0).Seconds() * 1000

	fmt.Fprintln(progress, "cycle check of a 100,000-asset cycle ...")
	head := &graphNode{}
	_ = m.Register(head, "node", "head")
	chain := []assets.Asset{head}
	for range 99_999 {
		n := &graphNode{}
		_ = m.Register(n, "node", "n", chain[len(chain)-1])
		chain = append(chain, n)
	}
	prev := chain[len(chain)-1]
	_ = m.AddDependency(head, prev)
	for _, n := range chain {
		_ = m.DecRef(n)
	}
	t0 = time.Now()
	if !fin.IsCycleOnly(prev) {
		return res, fmt.Errorf("the cycle was not found")
	}
	res.CycleCheck100kMs = time.Since(t0).Seconds() * 1000
	fin.ReleaseAll()

	fmt.Fprintln(progress, "non-forced release of a leaf ...")
	const leaves = 100_000
	nodes := make([]*graphNode, leaves)
	for i := range nodes {
		nodes[i] = &graphNode{}
		_ = m.Register(nodes[i], "node", "leaf")
	}
	// Unreferenced without asking for a release, as a loaded root is: the
	// timed loop asks for each, and Collect decides it.
	m.SetReleaser(nil)
	for _, n := range nodes {
		_ = m.DecRef(n)
	}
	m.SetReleaser(fin)
	t0 = time.Now()
	for _, n := range nodes {
		_ = fin.Release(n)
		fin.Collect()
	}
	res.ReleaseLeafNs = float64(time.Since(t0).Nanoseconds()) / leaves

	fmt.Fprintln(progress, "ReleaseUnused, 1,000 unused of 1,000,000 cached ...")
	const cached, unused = 1_000_000, 1_000
	held := make([]*graphNode, cached)
	for i := range held {
		held[i] = &graphNode{}
		if err := m.Register(held[i], "node", "held"); err != nil {
			return res, err
		}
	}
	m.SetReleaser(nil) // unreferenced without a release asked for: the sweep finds them
	for _, n := range held[:unused] {
		_ = m.DecRef(n)
	}
	m.SetReleaser(fin)
	t0 = time.Now()
	if n := fin.ReleaseUnused(); n != unused {
		return res, fmt.Errorf("released %d of the %d unused", n, unused)
	}
	res.ReleaseUnusedFewMs = time.Since(t0).Seconds() * 1000
	for _, n := range held[unused:] {
		_ = m.DecRef(n)
	}
	fin.ReleaseUnused()
	return res, nil
}
