package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/vkassets/vkassets/inspector"
)

const diffAbout = `Compare two snapshots written by inspector.Snapshot.WriteJSON, before and
after: the assets freed from the cache, those that survived, those added,
and those freed whose memory still waits for the GPU, each with its bytes.
Usage: vkassets diff [--json] BEFORE.json AFTER.json`

// runDiff is `vkassets diff`: flags may come before, between or after the
// two file names.
func runDiff(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("diff", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the diff as one JSON object")
	var files []string
	for {
		code, ok := parseFlagsThen(fs, args, stdout, stderr)
		if !ok {
			return code
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(files) != 2 {
		fmt.Fprintf(stderr, "vkassets diff: want two snapshot files, BEFORE and AFTER; got %d\n\n", len(files))
		printUsage(stderr, fs, diffAbout)
		return 2
	}
	var snaps [2]inspector.Snapshot
	for i, name := range files {
		s, err := readSnapshotFile(name)
		if err != nil {
			fmt.Fprintf(stderr, "vkassets diff: %v\n", err)
			return 1
		}
		snaps[i] = s
	}
	d := inspector.Diff(snaps[0], snaps[1])
	if *asJSON {
		writeJSON(stdout, d)
		return 0
	}
	printDiff(stdout, d)
	return 0
}

// parseFlagsThen parses flags up to the first argument that is not one.
func parseFlagsThen(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (int, bool) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		printUsage(stdout, fs, diffAbout)
		return 0, false
	case err != nil:
		fmt.Fprintf(stderr, "vkassets diff: %v\n\n", err)
		printUsage(stderr, fs, diffAbout)
		return 2, false
	}
	return 0, true
}

func readSnapshotFile(name string) (inspector.Snapshot, error) {
	f, err := os.Open(name)
	if err != nil {
		return inspector.Snapshot{}, err
	}
	defer f.Close()
	s, err := inspector.ReadSnapshot(f)
	if err != nil {
		return inspector.Snapshot{}, fmt.Errorf("%s: %w", name, err)
	}
	return s, nil
}

func printDiff(w io.Writer, d inspector.DiffResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "\tassets\tbytes\n")
	fmt.Fprintf(tw, "freed\t%d\t%s\n", len(d.Freed), bytesIEC(d.FreedBytes))
	fmt.Fprintf(tw, "  still waiting for the GPU\t%d\t%s\n", len(d.StillWaiting), bytesIEC(d.StillWaitingBytes))
	fmt.Fprintf(tw, "survived\t%d\t%s\n", len(d.Survived), bytesIEC(d.SurvivedBytes))
	fmt.Fprintf(tw, "added\t%d\t%s\n", len(d.Added), bytesIEC(d.AddedBytes))
	fmt.Fprintf(tw, "allocations\t\t%s -> %s\n", bytesIEC(d.AllocationBytesBefore), bytesIEC(d.AllocationBytesAfter))
	fmt.Fprintf(tw, "pending retirement\t\t%s -> %s\n", bytesIEC(d.PendingBytesBefore), bytesIEC(d.PendingBytesAfter))
	_ = tw.Flush()
	waiting := map[uint64]inspector.DiffEntry{}
	for _, e := range d.StillWaiting {
		waiting[uint64(e.ID)] = e
	}
	for _, sec := range []struct {
		title string
		list  []inspector.DiffEntry
	}{{"freed", d.Freed}, {"added", d.Added}} {
		if len(sec.list) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n", sec.title)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "  id\tkind\tname\tcount\tbytes\t\n")
		for _, e := range sec.list {
			note := ""
			if wt, ok := waiting[uint64(e.ID)]; ok {
				note = "still waiting for the GPU"
				if wt.Serial != 0 {
					note += fmt.Sprintf(" (serial %d)", wt.Serial)
				}
			}
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%d\t%s\t%s\n", e.ID, e.Kind, e.Name, e.Count, bytesIEC(e.Bytes), note)
		}
		_ = tw.Flush()
	}
}
